"""The scorer interface: a frozen config, a scoring function, typed Scores.

A scorer is a :class:`ScorerConfig` subclass (its settings, frozen and validated) whose
``kind`` is a stable name, plus a function registered for it with :func:`scorer`::

    class Contains(ScorerConfig):
        kind: ClassVar[str] = "contains"
        substring: str

    @scorer(Contains)
    def contains(config: Contains, sample: Sample) -> Score:
        return sample.score(config.score_name, config.substring in sample.output_text(...))

The function may be ``async``. Stored configurations are ``{"kind": ..., "config": {...}}``
(see :meth:`ScorerConfig.spec` and :func:`load_scorer`), so renaming a class or moving a
module never breaks a stored run. A scorer may also register a run-level aggregator
(:func:`aggregator`) computing metrics over all rows, such as a confusion matrix.
"""

from __future__ import annotations

import inspect
import json
import os
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import pydantic
from pydantic import Field

from llmloop.errors import ValidationError
from llmloop.providers.registry import ProviderRegistry
from llmloop.records import Frozen, Score, ScoreSource, ScoreSourceKind, ScoreValue

Section = Literal["inputs", "outputs", "expectations", "metadata"]
ScoreResult = Score | Iterable[Score] | None
ScoreFunction = Callable[[Any, "Sample"], ScoreResult | Awaitable[ScoreResult]]
C = TypeVar("C", bound="ScorerConfig")
METRIC_SOURCE = ScoreSource(kind=ScoreSourceKind.metric)


class ScorerConfig(Frozen):
    """Settings of one scorer. Subclasses set ``kind`` (stable) and ``version``."""

    kind: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    name: str | None = Field(
        default=None, description="Name of the score written; defaults to the kind."
    )

    @property
    def score_name(self) -> str:
        return self.name or self.kind

    def requires(self) -> list[tuple[Section, str]]:
        """Fields every record must have, as ``(section, key)``; checked before any call."""
        return []

    def spec(self) -> dict[str, Any]:
        """The stored form: ``{"kind": ..., "config": {...}}``."""
        return {"kind": self.kind, "config": self.model_dump(mode="json", exclude_defaults=True)}

    @property
    def scorer_version(self) -> str:
        return f"{self.kind}@{self.version}"


class _ScoreIds:
    """Score ids (``scr_`` + 32 hex digits, as :func:`llmloop.records.new_id` makes) cut
    from one block of OS randomness at a time: one system call per 4,096 scores rather
    than one per score, which shows at thousands of scores a second."""

    BLOCK = 16 * 4096

    def __init__(self) -> None:
        self._block = b""
        self._at = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            if self._at >= len(self._block):
                self._block, self._at = os.urandom(self.BLOCK), 0
            chunk = self._block[self._at : self._at + 16]
            self._at += 16
        return "scr_" + chunk.hex()


_IDS = _ScoreIds()


@dataclass(frozen=True, slots=True)
class Sample:
    """What a scorer sees of one record: its fields and how the target answered."""

    record_id: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    expectations: Mapping[str, Any]
    metadata: Mapping[str, Any]
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    providers: ProviderRegistry | None = field(default=None, repr=False)

    def get(self, section: Section, key: str) -> Any:
        values: Mapping[str, Any] = getattr(self, section)
        if key not in values:
            raise KeyError(f"{section}.{key} is missing (has: {', '.join(values) or 'nothing'})")
        return values[key]

    def text(self, section: Section, key: str) -> str:
        """A field as text: strings as they are, anything else as compact JSON."""
        value = self.get(section, key)
        if isinstance(value, str):
            return value
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)

    def score(
        self,
        config: ScorerConfig,
        value: ScoreValue,
        *,
        name: str | None = None,
        rationale: str | None = None,
        cost_usd: float = 0.0,
    ) -> Score:
        """A Score on this record from ``config``'s scorer (named after it by default)."""
        return Score(
            id=_IDS.next(),
            target_id=self.record_id,
            name=name or config.score_name,
            value=value,
            rationale=rationale,
            source=METRIC_SOURCE,
            scorer_version=config.scorer_version,
            cost_usd=cost_usd,
        )


@dataclass(frozen=True, slots=True)
class Row:
    """One finished record as an aggregator sees it."""

    outputs: Mapping[str, Any]
    expectations: Mapping[str, Any]
    metadata: Mapping[str, Any]
    scores: Sequence[Score] = ()


@dataclass(frozen=True, slots=True)
class RunMetrics:
    """Run-level metrics of an aggregator: scalar values (which get intervals) and details."""

    values: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Prepared:
    """An aggregator's view of a run's rows, ready for resampling.

    ``values(idx)`` gives the scalar metrics of the rows at the (possibly repeated) row
    indices ``idx``, so bootstrap intervals never rebuild per-row state; ``details`` are
    computed once over all rows.
    """

    n: int
    values: Callable[[np.ndarray], dict[str, float]]
    details: dict[str, Any] = field(default_factory=dict)


Aggregator = Callable[[Any, Sequence[Row]], Prepared]


@dataclass(frozen=True, slots=True)
class _Entry:
    config: type[ScorerConfig]
    compute: ScoreFunction
    is_async: bool
    aggregate: Aggregator | None = None


_REGISTRY: dict[str, _Entry] = {}


def scorer(config: type[C]) -> Callable[[Callable[[C, Sample], Any]], Callable[[C, Sample], Any]]:
    """Register the decorated function as the computation of ``config``'s kind."""
    if not config.kind:
        raise TypeError(f"{config.__name__} must set the class variable 'kind'")

    def register(fn: Callable[[C, Sample], Any]) -> Callable[[C, Sample], Any]:
        existing = _REGISTRY.get(config.kind)
        if existing is not None and existing.config is not config:
            raise TypeError(f"scorer kind {config.kind!r} is already registered")
        _REGISTRY[config.kind] = _Entry(config, fn, inspect.iscoroutinefunction(fn))
        return fn

    return register


def aggregator(config: type[C]) -> Callable[[Callable[[C, Sequence[Row]], Prepared]], Any]:
    """Register the decorated function as ``config``'s run-level aggregator."""

    def register(fn: Callable[[C, Sequence[Row]], Prepared]) -> Any:
        entry = _REGISTRY.get(config.kind)
        if entry is None:
            raise TypeError(f"register the scorer for {config.kind!r} before its aggregator")
        _REGISTRY[config.kind] = _Entry(entry.config, entry.compute, entry.is_async, fn)
        return fn

    return register


def kinds() -> list[str]:
    """Registered scorer kinds, sorted."""
    return sorted(_REGISTRY)


def _entry(kind: str) -> _Entry:
    entry = _REGISTRY.get(kind)
    if entry is None:
        raise ValidationError(f"unknown scorer {kind!r}; known scorers: {', '.join(kinds())}")
    return entry


def config_class(kind: str) -> type[ScorerConfig]:
    return _entry(kind).config


def load_scorer(spec: ScorerConfig | str | Mapping[str, Any]) -> ScorerConfig:
    """A scorer config from a config, a kind name, or ``{"kind": ..., "config": {...}}``."""
    if isinstance(spec, ScorerConfig):
        _entry(spec.kind)
        return spec
    if isinstance(spec, str):
        kind, settings = spec, {}
    elif isinstance(spec, Mapping):
        if "kind" not in spec:
            raise ValidationError(f"scorer spec {dict(spec)!r} needs a 'kind'")
        kind, settings = str(spec["kind"]), dict(spec.get("config") or {})
    else:
        raise ValidationError(f"a scorer must be a ScorerConfig, a name or a spec, not {spec!r}")
    config = _entry(kind).config
    try:
        return config.model_validate(settings)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise ValidationError(f"invalid settings for scorer {kind!r}: {problems}") from None


async def run_scorer(config: ScorerConfig, sample: Sample) -> list[Score]:
    """Run one scorer on one sample; the scores it returned, as a list."""
    entry = _entry(config.kind)
    result = entry.compute(config, sample)
    if entry.is_async or inspect.isawaitable(result):
        result = await result  # type: ignore[misc]
    if result is None:
        return []
    if isinstance(result, Score):
        return [result]
    scores = list(result)
    for item in scores:
        if not isinstance(item, Score):
            raise TypeError(f"scorer {config.kind!r} returned {type(item).__name__}, not a Score")
    return scores


def prepare_aggregate(config: ScorerConfig, rows: Sequence[Row]) -> Prepared | None:
    """``config``'s aggregator prepared on ``rows``, when it has one."""
    entry = _entry(config.kind)
    return entry.aggregate(config, rows) if entry.aggregate else None


def run_aggregate(config: ScorerConfig, rows: Sequence[Row]) -> RunMetrics | None:
    """The run-level metrics of ``config`` over all ``rows``, when it has an aggregator."""
    prepared = prepare_aggregate(config, rows)
    if prepared is None:
        return None
    return RunMetrics(values=prepared.values(np.arange(len(rows))), details=prepared.details)


def has_aggregate(config: ScorerConfig) -> bool:
    return _entry(config.kind).aggregate is not None
