"""Labeling functions declared as data, so the API, the CLI and the UI can create them.

A :class:`LFSpec` names a kind and its settings:

* ``keyword`` — ``keywords`` and the ``label`` to vote (optionally ``case_sensitive``);
* ``regex`` — a ``pattern`` and the ``label``;
* ``python`` — ``ref`` = ``"pkg.mod:attr"``, a :class:`LabelingFunction` or a list of them,
  imported where the functions run (the server, or the local process);
* ``text_model`` — a saved local text model (``model`` = ``name`` or ``name@version``)
  votes its prediction when its probability reaches ``threshold`` (``label_map`` renames
  its labels to the task's classes);
* ``llm`` — an LLM annotator (``model`` = ``provider/name``) through the provider
  registry, with ``guidelines`` and a confidence ``threshold``.

:func:`build_functions` turns specs into labeling functions, with one clear error per
bad spec.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmloop.embedded.model_store import ModelStore
from llmloop.embedded.text_model import TextModel
from llmloop.errors import LlmloopError, ValidationError
from llmloop.labeling.functions import LabelingFunction, keyword_lf, llm_lf, regex_lf, text_model_lf
from llmloop.providers.registry import ProviderRegistry

LFKind = Literal["keyword", "regex", "python", "text_model", "llm"]


class LFSpec(BaseModel):
    """One labeling function (or, for ``python``, a module attribute holding several)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: LFKind
    name: str | None = Field(default=None, max_length=100)
    label: str | None = None
    keywords: list[str] = Field(default_factory=list)
    pattern: str | None = None
    field: str = "text"
    case_sensitive: bool = False
    ref: str | None = Field(default=None, description="python: 'pkg.module:attribute'.")
    model: str | None = Field(default=None, description="text_model: name[@version]; llm: ref.")
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    label_map: dict[str, str] | None = None
    guidelines: str = ""


class FunctionContext:
    """What model-based functions need: the local model store and the provider registry."""

    def __init__(self, data_dir: Path | None, providers: ProviderRegistry | None) -> None:
        self.data_dir = data_dir
        self.providers = providers


def _need(spec: LFSpec, *fields: str) -> None:
    missing = [f for f in fields if getattr(spec, f) in (None, "", [])]
    if missing:
        raise ValidationError(
            f"labeling function {spec.name or spec.ref!r} of kind {spec.kind!r} needs "
            + ", ".join(missing)
        )


def load_python(ref: str) -> list[LabelingFunction]:
    """The labeling functions at ``pkg.mod:attr`` (one, or a list/tuple of them)."""
    module_name, _, attribute = ref.partition(":")
    if not module_name or not attribute:
        raise ValidationError(
            f"python labeling functions: give 'pkg.module:attribute', got {ref!r}"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValidationError(f"cannot import {module_name!r} for {ref!r}: {exc}") from None
    try:
        found = getattr(module, attribute)
    except AttributeError:
        raise ValidationError(f"module {module_name!r} has no attribute {attribute!r}") from None
    items = list(found) if isinstance(found, list | tuple) else [found]
    bad = [repr(i)[:60] for i in items if not isinstance(i, LabelingFunction)]
    if bad or not items:
        raise ValidationError(
            f"{ref!r} must be a labeling function or a list of them (use @labeling_function()); "
            f"got {', '.join(bad) or 'an empty list'}"
        )
    return items


def _text_model(spec: LFSpec, context: FunctionContext) -> LabelingFunction:
    _need(spec, "name", "model")
    if context.data_dir is None:
        raise ValidationError("text_model labeling functions need a data directory")
    name, _, version = str(spec.model).partition("@")
    try:
        loaded = ModelStore.for_data_dir(context.data_dir).load(name, version or "latest")
    except LlmloopError as exc:
        raise ValidationError(f"labeling function {spec.name!r}: {exc.message}") from None
    if not isinstance(loaded.model, TextModel):
        raise ValidationError(f"local model {spec.model!r} is not a text model")
    threshold = 0.8 if spec.threshold is None else spec.threshold
    return text_model_lf(
        str(spec.name), loaded.model, threshold=threshold, field=spec.field,
        label_map=spec.label_map,
    )  # fmt: skip


def build_function(
    spec: LFSpec, classes: Sequence[str], context: FunctionContext
) -> list[LabelingFunction]:
    """The labeling function(s) a spec declares."""
    if spec.kind == "python":
        _need(spec, "ref")
        return load_python(str(spec.ref))
    if spec.kind == "text_model":
        return [_text_model(spec, context)]
    if spec.kind == "llm":
        _need(spec, "name", "model")
        if context.providers is None:
            raise ValidationError("llm labeling functions need the provider registry")
        threshold = 0.5 if spec.threshold is None else spec.threshold
        return [
            llm_lf(
                str(spec.name), context.providers, str(spec.model), classes,
                guidelines=spec.guidelines, threshold=threshold, field=spec.field,
            )
        ]  # fmt: skip
    _need(spec, "name", "label")
    if spec.label not in classes:
        raise ValidationError(
            f"labeling function {spec.name!r} votes {spec.label!r}, not one of {list(classes)}"
        )
    if spec.kind == "keyword":
        _need(spec, "keywords")
        return [
            keyword_lf(
                str(spec.name), spec.keywords, str(spec.label), field=spec.field,
                case_sensitive=spec.case_sensitive,
            )
        ]  # fmt: skip
    _need(spec, "pattern")
    return [regex_lf(str(spec.name), str(spec.pattern), str(spec.label), field=spec.field)]


def build_functions(
    specs: Sequence[LFSpec], classes: Sequence[str], context: FunctionContext
) -> list[LabelingFunction]:
    if not specs:
        raise ValidationError("give at least one labeling function")
    functions: list[LabelingFunction] = []
    for spec in specs:
        functions += build_function(spec, classes, context)
    names = [f.name for f in functions]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValidationError(f"labeling function names must be distinct; repeated: {repeated}")
    return functions


def describe(function: LabelingFunction, spec: LFSpec) -> dict[str, Any]:
    """What is stored with a matrix for one of its columns."""
    settings = {k: v for k, v in function.settings.items() if k != "guidelines" or v}
    return {"name": function.name, "kind": function.kind, "spec": spec.model_dump(
        exclude_defaults=True), "settings": settings}  # fmt: skip


__all__ = [
    "FunctionContext",
    "LFKind",
    "LFSpec",
    "build_function",
    "build_functions",
    "load_python",
]
