"""Tracing: the SDK (``observe`` on OpenTelemetry) and the OTLP receiver's mapping.

``from llmloop.tracing import observe``; see :func:`configure` for where spans go.
"""

from __future__ import annotations

from llmloop.tracing.observe import ObservedSpan, Observer, observe
from llmloop.tracing.openai_client import instrument_openai, uninstrument_openai
from llmloop.tracing.setup import (
    CaptureSettings,
    configure,
    dropped_spans,
    flush,
    shutdown,
)

__all__ = [
    "CaptureSettings",
    "ObservedSpan",
    "Observer",
    "configure",
    "dropped_spans",
    "flush",
    "instrument_openai",
    "observe",
    "shutdown",
    "uninstrument_openai",
]
