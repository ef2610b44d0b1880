"""Stratified train/dev/test splits, deterministic for a seed.

Records are grouped by the value of one field (a metadata key such as ``language``, or
``expectations.label``) and spread over the splits so each stratum keeps its share in
every split, while the split sizes follow the fractions exactly.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic import Field, model_validator

from llmloop.data.schema import slice_value
from llmloop.errors import ValidationError
from llmloop.records import Frozen, Record

SPLIT_NAMES = ("train", "dev", "test")


class SplitSpec(Frozen):
    fractions: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.8, "dev": 0.1, "test": 0.1},
        description="Split name -> share of the records; shares sum to 1.",
    )
    stratify: str | None = Field(
        default=None,
        description="Field to stratify on: a metadata key, or 'expectations.<key>', "
        "'inputs.<key>', 'metadata.<key>'.",
    )
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> SplitSpec:
        if not self.fractions or any(f < 0 for f in self.fractions.values()):
            raise ValueError("fractions must be non-negative shares, one per split")
        if abs(sum(self.fractions.values()) - 1) > 1e-6:
            raise ValueError(f"fractions must sum to 1, got {sum(self.fractions.values()):.4f}")
        return self


class Split(Frozen):
    """Which record ids are in each split, and how many of each stratum."""

    spec: SplitSpec
    parts: dict[str, list[str]]
    strata: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="Split name -> stratum value -> count."
    )


def field_value(record: Record, field: str) -> Any:
    part, _, key = field.partition(".")
    if key and part in ("inputs", "outputs", "expectations", "metadata"):
        return (getattr(record, part) or {}).get(key)
    return record.metadata.get(field)


def _cut(count: int, fractions: dict[str, float]) -> dict[str, int]:
    """Largest-remainder sizes for ``count`` items."""
    exact = {name: count * share for name, share in fractions.items()}
    sizes = {name: int(value) for name, value in exact.items()}
    order = sorted(fractions, key=lambda n: (-(exact[n] - sizes[n]), list(fractions).index(n)))
    for name in order[: count - sum(sizes.values())]:
        sizes[name] += 1
    return sizes


def split(records: Sequence[Record], spec: SplitSpec) -> Split:
    """Cut ``records`` into the spec's parts, keeping each stratum's share in every part.

    Each stratum is shuffled with the seed and its members get evenly spaced ranks in
    [0, 1); all records are ordered by rank and cut by the fractions (largest-remainder
    sizes over the total). So the part sizes are exact and every stratum is spread over
    the parts in proportion, small strata included as far as their size allows.
    """
    if spec.stratify is not None and records:
        present = sum(field_value(r, spec.stratify) is not None for r in records)
        if present == 0:
            raise ValidationError(
                f"no record has the field {spec.stratify!r} to stratify on; use a metadata key "
                "or 'expectations.<key>'"
            )
    strata: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        value = field_value(record, spec.stratify) if spec.stratify else None
        strata[slice_value(value) or "(none)"].append(record)
    rng = random.Random(spec.seed)
    ranked: list[tuple[float, float, str, Record]] = []
    for value in sorted(strata):
        members = sorted(strata[value], key=lambda r: r.id)
        rng.shuffle(members)
        offset = rng.random()
        ranked.extend(
            ((i + offset) / len(members), rng.random(), value, r) for i, r in enumerate(members)
        )
    ranked.sort(key=lambda item: (item[0], item[1]))
    parts: dict[str, list[str]] = {name: [] for name in spec.fractions}
    counts: dict[str, dict[str, int]] = {name: {} for name in spec.fractions}
    start = 0
    for name, size in _cut(len(ranked), spec.fractions).items():
        for _, _, value, record in ranked[start : start + size]:
            parts[name].append(record.id)
            counts[name][value] = counts[name].get(value, 0) + 1
        start += size
    order = {r.id: i for i, r in enumerate(records)}
    for ids in parts.values():
        ids.sort(key=order.__getitem__)
    return Split(spec=spec, parts=parts, strata=counts if spec.stratify else {})
