"""Labeling functions: small, noisy sources that vote a class for a record or abstain.

A labeling function takes a :class:`~llmloop.records.Record` and returns a class name
(one of the task's classes) or ``None`` to abstain. Write one with the
:func:`labeling_function` decorator, or build one with the helpers:

* :func:`keyword_lf` — votes when any of a list of words or phrases occurs;
* :func:`regex_lf` — votes when a regular expression matches;
* :func:`heuristic_lf` — votes when a predicate on the record holds;
* :func:`text_model_lf` — the local :class:`~llmloop.embedded.text_model.TextModel`
  votes its prediction when its probability reaches a threshold;
* :func:`llm_lf` — an LLM annotator, through the provider registry, with a confidence
  threshold.

The text a helper reads is ``record.inputs[field]``; ``field`` may also name
``outputs.<key>``, ``expectations.<key>`` or ``metadata.<key>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmloop.embedded.text_model import TextModel
from llmloop.errors import ValidationError
from llmloop.providers.registry import ProviderRegistry
from llmloop.records import Record

LFCallable = Callable[[Record], str | None]
BatchCallable = Callable[[Sequence[Record]], list[str | None]]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,99}$")
_SECTIONS = ("inputs", "outputs", "expectations", "metadata")


@dataclass(frozen=True)
class LabelingFunction:
    """A named source of votes. ``kind`` says what it is (``python``, ``keyword``,
    ``regex``, ``heuristic``, ``text_model``, ``llm``); ``settings`` describes it.
    ``batch``, when given, votes on many records at once (the applier falls back to
    ``fn`` record by record if it raises, to find the records that fail)."""

    name: str
    fn: LFCallable = field(repr=False)
    kind: str = "python"
    settings: dict[str, Any] = field(default_factory=dict)
    batch: BatchCallable | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValidationError(
                f"labeling function name {self.name!r} must start with a letter or underscore "
                "and hold at most 100 letters, digits, '_', '.', ':' or '-'"
            )
        if not callable(self.fn):
            raise ValidationError(f"labeling function {self.name!r}: {self.fn!r} is not callable")

    @property
    def source(self) -> str:
        """The label source name stored with its votes (``lf:<name>``)."""
        return f"lf:{self.name}"

    def __call__(self, record: Record) -> str | None:
        return self.fn(record)


def labeling_function(
    name: str | None = None, **settings: Any
) -> Callable[[LFCallable], LabelingFunction]:
    """Decorator: ``@labeling_function()`` turns ``def f(record) -> str | None`` into a
    :class:`LabelingFunction` named after the function (or ``name``)."""

    def wrap(fn: LFCallable) -> LabelingFunction:
        return LabelingFunction(name or fn.__name__, fn, "python", dict(settings))

    return wrap


def record_text(record: Record, field_name: str) -> str:
    """The text at ``field_name`` (``text`` = ``inputs.text``); ``""`` when absent."""
    section, _, key = field_name.partition(".")
    if not key or section not in _SECTIONS:
        section, key = "inputs", field_name
    container = getattr(record, section) or {}
    value = container.get(key)
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _check_label(name: str, label: str) -> None:
    if not isinstance(label, str) or not label:
        raise ValidationError(f"labeling function {name!r}: label must be a class name")


def keyword_lf(
    name: str,
    keywords: Iterable[str],
    label: str,
    *,
    field: str = "text",
    case_sensitive: bool = False,
    whole_words: bool = True,
) -> LabelingFunction:
    """Votes ``label`` when any keyword (a word or phrase) occurs in the field's text."""
    _check_label(name, label)
    words = [w for w in keywords if isinstance(w, str) and w.strip()]
    if not words:
        raise ValidationError(f"keyword_lf {name!r}: give at least one non-empty keyword")
    escaped = "|".join(re.escape(w.strip()) for w in sorted(words, key=len, reverse=True))
    pattern = rf"(?<!\w)(?:{escaped})(?!\w)" if whole_words else f"(?:{escaped})"
    compiled = re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)

    def vote(record: Record) -> str | None:
        return label if compiled.search(record_text(record, field)) else None

    settings: dict[str, Any] = {"keywords": words, "label": label, "field": field}
    settings |= {"case_sensitive": case_sensitive, "whole_words": whole_words}
    return LabelingFunction(name, vote, "keyword", settings)


def regex_lf(
    name: str, pattern: str, label: str, *, field: str = "text", flags: int = re.IGNORECASE
) -> LabelingFunction:
    """Votes ``label`` when ``pattern`` matches somewhere in the field's text."""
    _check_label(name, label)
    try:
        compiled = re.compile(pattern, flags)
    except (re.error, TypeError) as exc:
        raise ValidationError(f"regex_lf {name!r}: invalid pattern {pattern!r}: {exc}") from None

    def vote(record: Record) -> str | None:
        return label if compiled.search(record_text(record, field)) else None

    return LabelingFunction(name, vote, "regex", {"pattern": pattern, "label": label})


def heuristic_lf(name: str, predicate: Callable[[Record], bool], label: str) -> LabelingFunction:
    """Votes ``label`` when ``predicate(record)`` is true (say, text length or a tag)."""
    _check_label(name, label)
    if not callable(predicate):
        raise ValidationError(f"heuristic_lf {name!r}: predicate must be callable")

    def vote(record: Record) -> str | None:
        return label if predicate(record) else None

    return LabelingFunction(name, vote, "heuristic", {"label": label})


def _check_threshold(name: str, threshold: float) -> float:
    if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        raise ValidationError(f"{name!r}: threshold must be within [0, 1], got {threshold!r}")
    return float(threshold)


def text_model_lf(
    name: str,
    model: TextModel,
    *,
    threshold: float = 0.8,
    field: str = "text",
    label_map: dict[str, str] | None = None,
) -> LabelingFunction:
    """The local text model votes its predicted label when its probability is at least
    ``threshold``; ``label_map`` renames its labels to the task's classes (a label it
    maps to nothing is never voted)."""
    threshold = _check_threshold(name, threshold)
    if not model.is_fitted:
        raise ValidationError(f"text_model_lf {name!r}: the text model is not trained")

    def decide(label: str, probability: float) -> str | None:
        if probability < threshold:
            return None
        return label if label_map is None else label_map.get(label)

    def vote(record: Record) -> str | None:
        prediction = model.predict_one(record_text(record, field))
        return decide(prediction.label, prediction.probability)

    def vote_many(records: Sequence[Record]) -> list[str | None]:
        texts = [record_text(r, field) for r in records]
        return [decide(p.label, p.probability) for p in model.predict(texts)]

    settings = {"threshold": threshold, "field": field, "classes": list(model.classes)}
    return LabelingFunction(name, vote, "text_model", settings, batch=vote_many)


LLM_INSTRUCTIONS = (
    "You label records for a classification task. Classes: {classes}.\n"
    "{guidelines}\n"
    'Answer with JSON only: {{"label": "<one of the classes>", "confidence": <0 to 1>}}. '
    'Use "label": null when none of the classes applies.'
)


def parse_llm_vote(text: str, classes: Sequence[str]) -> tuple[str | None, float]:
    """``(label, confidence)`` from an annotator's answer: JSON as instructed, or a bare
    class name (confidence 1). Anything else is ``(None, 0.0)``."""
    by_lower = {c.lower(): c for c in classes}
    answer = text.strip()
    match = re.search(r"\{.*\}", answer, re.DOTALL)
    if match:
        try:
            payload = json.loads(match.group(0))
        except json.JSONDecodeError:
            payload = None
        if isinstance(payload, dict):
            label = payload.get("label")
            confidence = payload.get("confidence", 1.0)
            if not isinstance(confidence, int | float) or isinstance(confidence, bool):
                confidence = 0.0
            chosen = by_lower.get(label.strip().lower()) if isinstance(label, str) else None
            return chosen, float(min(max(confidence, 0.0), 1.0)) if chosen else 0.0
    bare = by_lower.get(answer.strip(" .\"'`").lower())
    return (bare, 1.0) if bare else (None, 0.0)


def llm_lf(
    name: str,
    providers: ProviderRegistry,
    model: str,
    classes: Sequence[str],
    *,
    guidelines: str = "",
    threshold: float = 0.5,
    field: str = "text",
    **params: Any,
) -> LabelingFunction:
    """An LLM annotator: asks ``model`` (``provider/name``) for a class and a confidence
    and votes the class when the confidence is at least ``threshold``. Provider errors
    propagate, so the batch applier abstains on that record and reports why."""
    threshold = _check_threshold(name, threshold)
    choices = [c for c in classes if isinstance(c, str) and c]
    if len(choices) < 2:
        raise ValidationError(f"llm_lf {name!r}: give at least two class names")
    system = LLM_INSTRUCTIONS.format(classes=", ".join(choices), guidelines=guidelines.strip())

    def vote(record: Record) -> str | None:
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": record_text(record, field)},
        ]
        reply = providers.chat_sync(model, messages, **params)
        label, confidence = parse_llm_vote(reply.text, choices)
        return label if label is not None and confidence >= threshold else None

    settings = {"model": model, "classes": choices, "threshold": threshold, "field": field}
    return LabelingFunction(name, vote, "llm", settings | {"guidelines": guidelines})


__all__ = [
    "LLM_INSTRUCTIONS",
    "LabelingFunction",
    "heuristic_lf",
    "keyword_lf",
    "labeling_function",
    "llm_lf",
    "parse_llm_vote",
    "record_text",
    "regex_lf",
    "text_model_lf",
]
