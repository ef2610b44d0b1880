"""The built-in embedders by name: ``embed`` (the default), ``hashed-embed`` and ``minilm``.

``embed`` is MiniLM when the ``llmloop[minilm]`` extra is installed, else the hashed
embedder. The two give vectors of the same length (384) but in different spaces: store
:attr:`Embedder.name` (or ``space``) beside any vector you keep, and re-embed everything
when it changes.
"""

from __future__ import annotations

import threading

from llmloop.embedded.base import Embedder
from llmloop.embedded.hashed import HASHED_EMBEDDER_NAME, HashedEmbedder
from llmloop.embedded.minilm import MINILM_NAME, MiniLMEmbedder, minilm_available
from llmloop.errors import UnknownModelError

DEFAULT_EMBEDDER = "embed"
BUILTIN_EMBEDDERS = (DEFAULT_EMBEDDER, HASHED_EMBEDDER_NAME, MINILM_NAME)

_instances: dict[str, Embedder] = {}
_lock = threading.Lock()


def default_embedder_name() -> str:
    """What ``embed`` means here: ``minilm`` if it is installed, else ``hashed-embed``."""
    return MINILM_NAME if minilm_available() else HASHED_EMBEDDER_NAME


def get_embedder(name: str = DEFAULT_EMBEDDER) -> Embedder:
    """The process-wide built-in embedder called ``name`` (created once, then shared).

    Raises :class:`~llmloop.errors.UnknownModelError` for another name, and for
    ``minilm`` when its extra is not installed.
    """
    concrete = default_embedder_name() if name == DEFAULT_EMBEDDER else name
    if concrete not in BUILTIN_EMBEDDERS:
        raise UnknownModelError(
            f"no built-in embedder {name!r}: choose one of {', '.join(BUILTIN_EMBEDDERS)}"
        )
    with _lock:
        if concrete not in _instances:
            _instances[concrete] = _create(concrete)
        return _instances[concrete]


def _create(name: str) -> Embedder:
    if name == MINILM_NAME:
        return MiniLMEmbedder().load()
    return HashedEmbedder()
