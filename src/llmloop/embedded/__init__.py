"""Embedded models that run in process with no network and no API key.

* Sentence embeddings: :class:`HashedEmbedder` (numpy + scikit-learn, always there) and
  :class:`MiniLMEmbedder` (all-MiniLM-L6-v2, with the ``llmloop[minilm]`` extra);
  :func:`get_embedder` gives the built-in ones by name (``embed`` picks the best installed).
* A trainable text classifier with reply templates and attributions: :class:`TextModel`.
* Immutable, versioned persistence of both: :class:`ModelStore`.

Nothing here imports :mod:`llmloop.providers`; the ``local/`` provider adapts these models.
"""

from __future__ import annotations

from llmloop.embedded.base import Embedder, cosine, l2_normalize
from llmloop.embedded.embeddings import (
    BUILTIN_EMBEDDERS,
    DEFAULT_EMBEDDER,
    default_embedder_name,
    get_embedder,
)
from llmloop.embedded.hashed import HashedEmbedder, HashedEmbedderConfig
from llmloop.embedded.minilm import MiniLMEmbedder, minilm_available, minilm_missing
from llmloop.embedded.model_store import (
    RESERVED_NAMES,
    LoadedModel,
    LocalModel,
    ModelManifest,
    ModelStore,
    check_model_name,
)
from llmloop.embedded.text_model import (
    Attribution,
    Prediction,
    Reply,
    TextModel,
    TextModelConfig,
)

__all__ = [
    "BUILTIN_EMBEDDERS",
    "DEFAULT_EMBEDDER",
    "RESERVED_NAMES",
    "Attribution",
    "Embedder",
    "HashedEmbedder",
    "HashedEmbedderConfig",
    "LoadedModel",
    "LocalModel",
    "MiniLMEmbedder",
    "ModelManifest",
    "ModelStore",
    "Prediction",
    "Reply",
    "TextModel",
    "TextModelConfig",
    "check_model_name",
    "cosine",
    "default_embedder_name",
    "get_embedder",
    "l2_normalize",
    "minilm_available",
    "minilm_missing",
]
