"""Where an evaluation's records come from: a list in memory, or a dataset version read
from the store page by page (so a run over 100,000 records never holds them all).

A dataset is named ``"<name>"`` or ``"<name>@<ref>"`` with ``ref`` an alias (``latest``,
``golden``, …), a number (``v3``) or a version id (``dsv_…``); the run records the
reference as given and the version it resolved to.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from llmloop.data.datasets import LATEST, Datasets
from llmloop.errors import ValidationError
from llmloop.evaluation.inputs import check_fields, field_needs
from llmloop.evaluation.scorers import ScorerConfig
from llmloop.evaluation.targets import Target
from llmloop.records import Record
from llmloop.store import AuditRepository, Database
from llmloop.store.datasets import DatasetRepository

PAGE = 1000
Page = list[tuple[int, Record]]


@dataclass(frozen=True)
class DatasetRef:
    """A dataset by name and version reference, as written ``name@ref``."""

    name: str
    ref: str = LATEST

    @classmethod
    def parse(cls, text: str) -> DatasetRef:
        name, _, ref = text.strip().partition("@")
        if not name or (_ and not ref):
            raise ValidationError(
                f"dataset {text!r} must be written '<name>' or '<name>@<alias|vN|version id>'"
            )
        return cls(name, ref or LATEST)

    def __str__(self) -> str:
        return f"{self.name}@{self.ref}"


class ListSource:
    """Records already in memory."""

    def __init__(self, records: Sequence[Record]) -> None:
        self.records = records
        self.total = len(records)
        self.dataset_ref: str | None = None
        self.dataset_version: str | None = None

    def pages(self, start: int = 0) -> Iterator[Page]:
        for offset in range(start, self.total, PAGE):
            yield list(enumerate(self.records[offset : offset + PAGE], start=offset))

    def check(self, target: Target, scorers: Sequence[ScorerConfig]) -> None:
        check_fields(target, self.records, scorers)


class DatasetSource:
    """One immutable dataset version, read from the store in pages of ``PAGE`` records."""

    def __init__(self, db: Database, project_id: str, ref: DatasetRef) -> None:
        datasets = Datasets(db, AuditRepository(db))
        self.repo = DatasetRepository(db)
        self.dataset = datasets.get(project_id, ref.name)
        self.version = datasets.version(project_id, ref.name, ref.ref)
        self.total = self.version.record_count
        self.dataset_ref: str | None = str(ref)
        self.dataset_version: str | None = self.version.id

    def pages(self, start: int = 0) -> Iterator[Page]:
        for offset in range(start, self.total, PAGE):
            records = self.repo.records(self.dataset.id, self.version.id, offset=offset, limit=PAGE)
            yield list(enumerate(records, start=offset))

    def check(self, target: Target, scorers: Sequence[ScorerConfig]) -> None:
        """Missing fields, from the version's schema when it answers, else by reading it."""
        if self._schema_says_complete(target, scorers):
            return
        problems: list[ValidationError] = []
        for page in self.pages():
            try:
                check_fields(target, [r for _, r in page], scorers, first_position=page[0][0])
            except ValidationError as exc:
                problems.append(exc)
        if problems:
            raise ValidationError(
                "; ".join(p.message for p in problems),
                details=[d for p in problems for d in (p.details or [])],
            )

    def _schema_says_complete(self, target: Target, scorers: Sequence[ScorerConfig]) -> bool:
        """True when the version's field counts show every needed field in every record."""
        static = target.static_inputs()
        if static is None:
            return False  # the target decides record by record
        schema = self.version.field_schema
        needed = [(s, k) for s, k, _ in field_needs(target, scorers)]
        needed += [("inputs", key) for key in static]
        for section, key in needed:
            info = getattr(schema, section).get(key)
            if info is None or info.present < self.total:
                return False
        return True


Source = ListSource | DatasetSource
