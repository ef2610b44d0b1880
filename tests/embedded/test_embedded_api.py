"""The public names of ``llmloop.embedded``: all resolve, and the set is the documented one."""

from __future__ import annotations

import llmloop.embedded as embedded


def test_all_names_resolve() -> None:
    for name in embedded.__all__:
        assert getattr(embedded, name) is not None, name


def test_exports_are_the_documented_set() -> None:
    assert set(embedded.__all__) == {
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
    }


def test_builtin_embedders_satisfy_the_protocol() -> None:
    assert isinstance(embedded.get_embedder("hashed-embed"), embedded.Embedder)
    assert isinstance(embedded.MiniLMEmbedder(), embedded.Embedder)
    assert frozenset(embedded.BUILTIN_EMBEDDERS) == embedded.RESERVED_NAMES
