"""Does a dataset look like production traffic (or like another dataset)?

The **target** is either the root-span inputs of the project's traces in a time range, or
another dataset version. Both sides are embedded (the default embedder: MiniLM when
installed, else the hashed n-gram embedder) and the target is clustered with k-means.
Every dataset item is assigned to its nearest target centroid, so each cluster has a
share of the target and a share of the dataset.

* **Coverage score** = ``Σ_c min(target_share_c, dataset_share_c)``: the overlap of the
  two cluster distributions (1 minus their total-variation distance). 1 means the dataset
  has the target's mix of topics; 0.6 means 40% of the target's mass sits in clusters the
  dataset under-represents.
* A cluster is **under-covered** when its dataset share is below ``gap_ratio`` (default
  0.5) times its target share and it holds at least ``min_share`` of the target.
* **Slices** (metadata keys such as ``language`` or ``domain``; ``expectations.<key>`` for
  labels) are counted on both sides; a value with at least ``min_share`` of the target
  and no dataset record is reported **missing**.
* **Suggestions**: target items to add, nearest to the centroids of the under-covered
  clusters (in proportion to each cluster's gap), then items of missing slice values.
* **Diversity** of each side: distinct-1/2 and embedding dispersion (:mod:`diversity`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator
from sklearn.cluster import KMeans

from llmloop.data.datasets import Datasets
from llmloop.data.diversity import Diversity, diversity
from llmloop.embedded.base import l2_normalize
from llmloop.embedded.embeddings import DEFAULT_EMBEDDER, get_embedder
from llmloop.errors import ValidationError
from llmloop.records import Frozen, Record
from llmloop.store import AuditRepository, Database
from llmloop.store.traces import TraceRepository
from llmloop.store.traces_types import Span, TraceFilter

MAX_TARGET = 20_000
_PAGE = 1000


class CoverageRequest(Frozen):
    version: str | None = Field(default=None, description="Dataset version; default latest.")
    text_field: str = Field(default="text", description="Dataset text: inputs key or part.key.")
    target_dataset: str | None = Field(default=None, description="Compare with this dataset…")
    target_version: str | None = None
    since: datetime | None = Field(default=None, description="…or with traces from here…")
    until: datetime | None = Field(default=None, description="…to here.")
    trace_text_key: str | None = Field(
        default=None, description="Key of the root span's inputs holding the text."
    )
    slices: list[str] = Field(default_factory=lambda: ["language", "domain"])
    clusters: int = Field(default=8, ge=2, le=100)
    gap_ratio: float = Field(default=0.5, gt=0, le=1)
    min_share: float = Field(default=0.02, ge=0, le=1)
    suggest: int = Field(default=20, ge=0, le=1000)
    max_target: int = Field(default=5000, ge=10, le=MAX_TARGET)
    embedder: str = DEFAULT_EMBEDDER
    seed: int = 0

    @model_validator(mode="after")
    def _one_target(self) -> CoverageRequest:
        if self.target_dataset is not None and (self.since or self.until):
            raise ValueError("compare with a target_dataset or with traces (since/until), not both")
        return self


class ClusterCoverage(Frozen):
    cluster: int
    target_share: float
    dataset_share: float
    target_items: int
    dataset_items: int
    under_covered: bool
    examples: list[str]


class SliceCoverage(Frozen):
    key: str
    values: list[str]
    target: list[float]
    dataset: list[float]
    missing: list[str]


class Suggestion(Frozen):
    id: str
    text: str
    reason: str
    cluster: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class CoverageReport(Frozen):
    dataset: str
    version: str
    target: str
    embedder: str
    dataset_items: int
    target_items: int
    coverage_score: float
    clusters: list[ClusterCoverage]
    slices: list[SliceCoverage]
    suggestions: list[Suggestion]
    dataset_diversity: Diversity
    target_diversity: Diversity


class Item(Frozen):
    id: str
    text: str
    slices: dict[str, str] = Field(default_factory=dict)


# --------------------------------------------------------------------------- items


def _record_value(record: Record, key: str) -> Any:
    section, _, rest = key.partition(".")
    if rest and section in ("inputs", "outputs", "expectations", "metadata"):
        return (getattr(record, section) or {}).get(rest)
    return record.metadata.get(key)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def record_items(records: Sequence[Record], text_field: str, slices: Sequence[str]) -> list[Item]:
    dotted = "." in text_field
    items = []
    for record in records:
        value = _record_value(record, text_field) if dotted else record.inputs.get(text_field)
        text = _text(value)
        tags = {s: str(v) for s in slices if (v := _record_value(record, s)) is not None}
        items.append(Item(id=record.id, text=text, slices=tags))
    return [i for i in items if i.text]


def _span_text(inputs: Any, key: str | None) -> str:
    if key is not None and isinstance(inputs, dict):
        return _text(inputs.get(key))
    if isinstance(inputs, dict) and isinstance(inputs.get("messages"), list):
        users = [m for m in inputs["messages"] if isinstance(m, dict) and m.get("role") == "user"]
        if users:
            return _text(users[-1].get("content"))
    return _text(inputs)


def span_items(roots: Sequence[Span], key: str | None, slices: Sequence[str]) -> list[Item]:
    items = []
    for span in roots:
        attrs = span.attributes
        tags = {}
        for s in slices:
            name = s.partition(".")[2] if s.startswith(("metadata.", "expectations.")) else s
            value = attrs.get(name, attrs.get(f"metadata.{name}"))
            if value is not None:
                tags[s] = str(value)
        items.append(Item(id=span.trace_id, text=_span_text(span.inputs, key), slices=tags))
    return [i for i in items if i.text]


# --------------------------------------------------------------------------- analysis


def _shares(labels: npt.NDArray[np.intp], k: int) -> npt.NDArray[np.float64]:
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    return np.asarray(counts / max(counts.sum(), 1.0))


def _slice_coverage(
    dataset: Sequence[Item], target: Sequence[Item], keys: Sequence[str], min_share: float
) -> list[SliceCoverage]:
    out = []
    for key in keys:
        ours = Counter(i.slices[key] for i in dataset if key in i.slices)
        theirs = Counter(i.slices[key] for i in target if key in i.slices)
        if not ours and not theirs:
            continue
        values = sorted(set(ours) | set(theirs), key=lambda v: (-theirs[v], -ours[v], v))
        n_ours, n_theirs = max(sum(ours.values()), 1), max(sum(theirs.values()), 1)
        missing = [v for v in values if ours[v] == 0 and theirs[v] / n_theirs >= min_share]
        out.append(
            SliceCoverage(
                key=key,
                values=values,
                target=[round(theirs[v] / n_theirs, 4) for v in values],
                dataset=[round(ours[v] / n_ours, 4) for v in values],
                missing=missing,
            )
        )
    return out


def _allocate(gaps: dict[int, float], total: int) -> dict[int, int]:
    if not gaps or total <= 0:
        return {}
    weight = sum(gaps.values())
    quota = {c: int(np.floor(total * g / weight)) for c, g in gaps.items()}
    for c in sorted(gaps, key=lambda c: -gaps[c])[: total - sum(quota.values())]:
        quota[c] += 1
    return quota


def compare(
    dataset: Sequence[Item],
    target: Sequence[Item],
    request: CoverageRequest,
    *,
    names: tuple[str, str, str],
) -> CoverageReport:
    """The coverage report of ``dataset`` items against ``target`` items."""
    if len(target) < 2 or not dataset:
        raise ValidationError(
            f"coverage needs texts on both sides: the dataset has {len(dataset)} and the "
            f"target {len(target)} (at least 2); check text_field / trace_text_key and the range"
        )
    embedder = get_embedder(request.embedder)
    ours = l2_normalize(embedder.embed([i.text for i in dataset]))
    theirs = l2_normalize(embedder.embed([i.text for i in target]))
    k = min(request.clusters, len(target))
    kmeans = KMeans(n_clusters=k, n_init=4, random_state=request.seed).fit(theirs)
    target_labels = np.asarray(kmeans.labels_, dtype=np.intp)
    dataset_labels = np.asarray(kmeans.predict(ours), dtype=np.intp)
    t_share, d_share = _shares(target_labels, k), _shares(dataset_labels, k)
    score = float(np.minimum(t_share, d_share).sum())
    under = {
        c for c in range(k)
        if t_share[c] >= request.min_share and d_share[c] < request.gap_ratio * t_share[c]
    }  # fmt: skip
    distances = np.asarray(kmeans.transform(theirs), dtype=np.float64)
    clusters = []
    for c in np.argsort(-(t_share - d_share)):
        members = np.flatnonzero(target_labels == c)
        nearest = members[np.argsort(distances[members, c])][:3]
        clusters.append(
            ClusterCoverage(
                cluster=int(c), target_share=round(float(t_share[c]), 4),
                dataset_share=round(float(d_share[c]), 4), target_items=len(members),
                dataset_items=int((dataset_labels == c).sum()), under_covered=int(c) in under,
                examples=[target[i].text[:200] for i in nearest],
            )
        )  # fmt: skip
    slices = _slice_coverage(dataset, target, request.slices, request.min_share)
    suggestions = _suggest(
        target, target_labels, distances, t_share, d_share, under, slices, request
    )
    return CoverageReport(
        dataset=names[0],
        version=names[1],
        target=names[2],
        embedder=embedder.name,
        dataset_items=len(dataset),
        target_items=len(target),
        coverage_score=round(score, 4),
        clusters=clusters,
        slices=slices,
        suggestions=suggestions,
        dataset_diversity=diversity(
            [i.text for i in dataset], np.asarray(ours, dtype=np.float64), seed=request.seed
        ),
        target_diversity=diversity(
            [i.text for i in target], np.asarray(theirs, dtype=np.float64), seed=request.seed
        ),
    )


def _suggest(
    target: Sequence[Item],
    labels: npt.NDArray[np.intp],
    distances: npt.NDArray[np.float64],
    t_share: npt.NDArray[np.float64],
    d_share: npt.NDArray[np.float64],
    under: set[int],
    slices: Sequence[SliceCoverage],
    request: CoverageRequest,
) -> list[Suggestion]:
    chosen: list[Suggestion] = []
    taken: set[int] = set()
    quota = _allocate({c: float(t_share[c] - d_share[c]) for c in under}, request.suggest)
    for c, count in quota.items():
        members = np.flatnonzero(labels == c)
        for position in members[np.argsort(distances[members, c])][:count]:
            i = int(position)
            taken.add(i)
            chosen.append(
                Suggestion(id=target[i].id, text=target[i].text, cluster=int(c),
                           reason=f"under-covered cluster {c}", metadata=target[i].slices)
            )  # fmt: skip
    missing = [(s.key, v) for s in slices for v in s.missing]
    per_value = max(1, request.suggest // max(len(missing), 1)) if missing else 0
    for key, value in missing:
        holders = [i for i, item in enumerate(target) if item.slices.get(key) == value]
        holders.sort(key=lambda i: float(distances[i, labels[i]]))
        for i in [h for h in holders if h not in taken][:per_value]:
            taken.add(i)
            chosen.append(
                Suggestion(id=target[i].id, text=target[i].text, cluster=int(labels[i]),
                           reason=f"missing slice {key}={value}", metadata=target[i].slices)
            )  # fmt: skip
    return chosen


# --------------------------------------------------------------------------- service


class Representativeness:
    def __init__(self, db: Database, audit: AuditRepository) -> None:
        self.datasets = Datasets(db, audit)
        self.traces = TraceRepository(db)

    def _trace_items(self, project_id: str, request: CoverageRequest) -> list[Item]:
        roots: list[Span] = []
        offset = 0
        while len(roots) < request.max_target:
            where = TraceFilter(
                since=request.since, until=request.until, limit=_PAGE, offset=offset
            )
            page = self.traces.list(project_id, where)
            if not page:
                break
            spans = self.traces.spans_of_traces(project_id, [t.trace_id for t in page])
            roots += [s for s in spans if s.parent_span_id is None]
            offset += len(page)
            if len(page) < _PAGE:
                break
        return span_items(roots[: request.max_target], request.trace_text_key, request.slices)

    def report(self, project_id: str, dataset: str, request: CoverageRequest) -> CoverageReport:
        version = self.datasets.version(project_id, dataset, request.version)
        records = self.datasets.records(project_id, dataset, version.id)
        ours = record_items(records, request.text_field, request.slices)
        if request.target_dataset is not None:
            other = self.datasets.version(
                project_id, request.target_dataset, request.target_version
            )
            theirs_records = self.datasets.records(project_id, request.target_dataset, other.id)
            theirs = record_items(
                theirs_records[: request.max_target], request.text_field, request.slices
            )
            label = f"dataset {request.target_dataset} {other.label}"
        else:
            theirs = self._trace_items(project_id, request)
            span = f"{request.since or 'start'} to {request.until or 'now'}"
            label = f"traces {span}"
        return compare(ours, theirs, request, names=(dataset, version.label, label))


__all__ = [
    "ClusterCoverage",
    "CoverageReport",
    "CoverageRequest",
    "Item",
    "Representativeness",
    "SliceCoverage",
    "Suggestion",
    "compare",
    "record_items",
    "span_items",
]
