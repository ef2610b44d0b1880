"""Test helpers shipped with llmloop, for our tests and for yours.

:class:`ScriptedUpstream` is an OpenAI-compatible server on loopback whose answers,
errors, latency and streaming you script, and which records what it received.

The names are re-exported lazily (PEP 562) so that ``python -m llmloop.testing.upstream``
runs the module once, without runpy's "found in sys.modules" warning.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmloop.testing.upstream import (
        ReceivedRequest,
        ScriptedResponse,
        ScriptedUpstream,
        embed_text,
    )

__all__ = ["ReceivedRequest", "ScriptedResponse", "ScriptedUpstream", "embed_text"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("llmloop.testing.upstream"), name)
    raise AttributeError(f"module 'llmloop.testing' has no attribute {name!r}")
