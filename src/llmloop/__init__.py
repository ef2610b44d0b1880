"""llmloop: one loop for data, prompts, evaluation, deployment and monitoring of LLM apps.

The public SDK surface. Names are loaded on first use so that ``import llmloop`` stays
cheap for code that only needs the record types.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "connect": "llmloop.sdk.client",
    "observe": "llmloop.tracing",
    "instrument_openai": "llmloop.tracing",
    "aconnect": "llmloop.sdk.aclient",
    "AsyncClient": "llmloop.sdk.aclient",
    "Client": "llmloop.sdk.client",
    "to_frame": "llmloop.sdk.client",
    "Settings": "llmloop.settings",
    "load_settings": "llmloop.settings",
    "Record": "llmloop.records",
    "RecordSource": "llmloop.records",
    "Score": "llmloop.records",
    "ScoreSource": "llmloop.records",
    "Label": "llmloop.records",
    "Project": "llmloop.records",
    "ApiKey": "llmloop.records",
    "AuditEvent": "llmloop.records",
    "Role": "llmloop.records",
    "LlmloopError": "llmloop.errors",
    "NotFoundError": "llmloop.errors",
    "ValidationError": "llmloop.errors",
    "PermissionDeniedError": "llmloop.errors",
    "AuthenticationError": "llmloop.errors",
    "UnknownModelError": "llmloop.errors",
    "ProviderError": "llmloop.errors",
    "ChatResponse": "llmloop.providers.base",
    "evaluate": "llmloop.evaluation.runner",
    "aevaluate": "llmloop.evaluation.runner",
    "experiment": "llmloop.evaluation.experiments",
    "aexperiment": "llmloop.evaluation.experiments",
    "robustness": "llmloop.evaluation.suites",
    "fairness": "llmloop.evaluation.suites",
    "Message": "llmloop.providers.base",
}

__all__ = [
    "ApiKey",
    "AsyncClient",
    "AuditEvent",
    "AuthenticationError",
    "ChatResponse",
    "Client",
    "Label",
    "LlmloopError",
    "Message",
    "NotFoundError",
    "PermissionDeniedError",
    "Project",
    "ProviderError",
    "Record",
    "RecordSource",
    "Role",
    "Score",
    "ScoreSource",
    "Settings",
    "UnknownModelError",
    "ValidationError",
    "__version__",
    "aconnect",
    "aevaluate",
    "aexperiment",
    "connect",
    "evaluate",
    "experiment",
    "fairness",
    "instrument_openai",
    "load_settings",
    "observe",
    "robustness",
    "to_frame",
]

if TYPE_CHECKING:
    from llmloop.errors import (
        AuthenticationError,
        LlmloopError,
        NotFoundError,
        PermissionDeniedError,
        ProviderError,
        UnknownModelError,
        ValidationError,
    )
    from llmloop.evaluation.experiments import aexperiment, experiment
    from llmloop.evaluation.runner import aevaluate, evaluate
    from llmloop.evaluation.suites import fairness, robustness
    from llmloop.providers.base import ChatResponse, Message
    from llmloop.records import (
        ApiKey,
        AuditEvent,
        Label,
        Project,
        Record,
        RecordSource,
        Role,
        Score,
        ScoreSource,
    )
    from llmloop.sdk.aclient import AsyncClient, aconnect
    from llmloop.sdk.client import Client, connect, to_frame
    from llmloop.settings import Settings, load_settings
    from llmloop.tracing import instrument_openai, observe


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llmloop' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
