"""The public SDK surface: every name in ``llmloop.__all__`` resolves, and nothing else leaks."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import llmloop


def test_all_names_resolve() -> None:
    for name in llmloop.__all__:
        assert getattr(llmloop, name) is not None, name


def test_exports_are_documented_set() -> None:
    assert set(llmloop.__all__) == {
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
    }


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = llmloop.nope  # type: ignore[attr-defined]


def test_import_is_light() -> None:
    """Importing the package for its record types does not start the server stack."""
    code = (
        "import sys, llmloop; from llmloop import Record; "
        "print(int('fastapi' in sys.modules), int('sqlalchemy' in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "0"]


@pytest.mark.parametrize(
    "module",
    ["llmloop.records", "llmloop.store", "llmloop.server.app", "llmloop.cli.main"],
)
def test_modules_import(module: str) -> None:
    importlib.import_module(module)
