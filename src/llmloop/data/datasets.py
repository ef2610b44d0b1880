"""The datasets feature: versions, aliases, imports, diffs, splits and dedup.

The repository (:mod:`llmloop.store.datasets`) persists rows; the rules live here: a
version is immutable and content-addressed, ``latest`` follows every commit, every alias
move is audited in the same transaction, and an import either commits all the rows it
accepted or nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import Field
from sqlalchemy.engine import Connection

from llmloop.data.dedup import DuplicateGroup, dedup, find_duplicates
from llmloop.data.importers import (
    ColumnMapping,
    FileFormat,
    ImportReport,
    ImportResult,
    OnError,
    from_records,
    read_file,
)
from llmloop.data.schema import infer_schema
from llmloop.data.splits import Split, SplitSpec, split
from llmloop.errors import NotFoundError, ValidationError
from llmloop.records import Frozen, Record
from llmloop.store import AuditRepository, Database
from llmloop.store.datasets import (
    Dataset,
    DatasetAlias,
    DatasetRepository,
    DatasetVersion,
    version_digest,
)

LATEST = "latest"
GOLDEN = "golden"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
NUMBER_REF = re.compile(r"^v(\d+)$")
MAX_ID_LENGTH = 200


class DatasetSummary(Frozen):
    dataset: Dataset
    versions: int
    latest: DatasetVersion | None = None
    aliases: list[DatasetAlias] = Field(default_factory=list)


class Commit(Frozen):
    """The version a commit produced, and whether it was new (False: same content existed)."""

    dataset: Dataset
    version: DatasetVersion
    created: bool


class ImportOutcome(Commit):
    report: ImportReport


class RecordPage(Frozen):
    version: DatasetVersion
    total: int
    offset: int
    limit: int
    records: list[Record]


class VersionDiff(Frozen):
    """What changed from one version to another, by record id."""

    from_version: DatasetVersion
    to_version: DatasetVersion
    added: list[str]
    removed: list[str]
    changed: list[str]
    unchanged: int


class SplitOutcome(Frozen):
    split: Split
    versions: dict[str, DatasetVersion] = Field(
        default_factory=dict, description="Split name -> saved version (when saved)."
    )


class DuplicateReport(Frozen):
    version: DatasetVersion
    threshold: float
    groups: list[DuplicateGroup]

    @property
    def removable(self) -> int:
        return len({rid for g in self.groups for rid in g.record_ids[1:]})


class DedupOutcome(Frozen):
    report: DuplicateReport
    removed: int
    commit: Commit


def check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        message = (
            f"dataset name {name!r} is invalid: use 1-100 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
        raise ValidationError(message, details=[{"field": "name", "message": message}])


def check_alias(alias: str) -> None:
    if not ALIAS_PATTERN.match(alias) or NUMBER_REF.match(alias) or alias.startswith("dsv_"):
        raise ValidationError(
            f"alias {alias!r} is invalid: use 1-64 lowercase letters, digits, '-', '_' or '.', "
            "starting with a letter, and not shaped like a version ('v3', 'dsv_…')"
        )


def check_records(records: Sequence[Record]) -> None:
    """Refuse an empty list, duplicate ids and over-long ids, naming them."""
    if not records:
        raise ValidationError("a dataset version needs at least one record")
    seen: set[str] = set()
    duplicates: list[str] = []
    for record in records:
        if not 0 < len(record.id) <= MAX_ID_LENGTH:
            raise ValidationError(f"record id {record.id[:50]!r}… must be 1-200 characters")
        if record.id in seen:
            duplicates.append(record.id)
        seen.add(record.id)
    if duplicates:
        shown = ", ".join(repr(d) for d in duplicates[:5])
        raise ValidationError(
            f"{len(duplicates)} duplicate record id(s): {shown}; ids must be unique in a version",
            details=[{"field": "records", "duplicate_ids": duplicates[:100]}],
        )


class Datasets:
    def __init__(self, db: Database, audit: AuditRepository) -> None:
        self.db = db
        self.repo = DatasetRepository(db)
        self.audit = audit

    # ---------------------------------------------------------------- reading

    def get(self, project_id: str, name: str) -> Dataset:
        return self.repo.get(project_id, name)

    def summary(self, project_id: str, name: str) -> DatasetSummary:
        dataset = self.repo.get(project_id, name)
        versions = self.repo.versions(dataset.id)
        aliases = self.repo.aliases(dataset.id)
        latest_id = next((a.version_id for a in aliases if a.name == LATEST), None)
        latest = next((v for v in versions if v.id == latest_id), None)
        return DatasetSummary(
            dataset=dataset, versions=len(versions), latest=latest, aliases=aliases
        )

    def versions(self, project_id: str, name: str) -> list[DatasetVersion]:
        return self.repo.versions(self.repo.get(project_id, name).id)

    def aliases(self, project_id: str, name: str) -> list[DatasetAlias]:
        return self.repo.aliases(self.repo.get(project_id, name).id)

    def version(self, project_id: str, name: str, ref: str | None = None) -> DatasetVersion:
        return self._resolve(self.repo.get(project_id, name), ref)

    def _resolve(self, dataset: Dataset, ref: str | None) -> DatasetVersion:
        """A version by alias (default ``latest``), number (``v3``) or id (``dsv_…``)."""
        ref = (ref or LATEST).strip()
        found: DatasetVersion | None
        if match := NUMBER_REF.match(ref):
            found = self.repo.version_by_number(dataset.id, int(match.group(1)))
        elif ref.startswith("dsv_"):
            found = self.repo.find_version(dataset.id, ref)
        else:
            alias = self.repo.alias(dataset.id, ref)
            found = None if alias is None else self.repo.find_version(dataset.id, alias.version_id)
        if found is None:
            raise NotFoundError(
                f"dataset {dataset.name!r} has no version {ref!r}; "
                "give an alias (latest, golden, …), a number (v1) or a version id (dsv_…)"
            )
        return found

    def records(self, project_id: str, name: str, ref: str | None = None) -> list[Record]:
        dataset = self.repo.get(project_id, name)
        return self.repo.records(dataset.id, self._resolve(dataset, ref).id)

    def page(
        self, project_id: str, name: str, ref: str | None, *, offset: int = 0, limit: int = 100
    ) -> RecordPage:
        dataset = self.repo.get(project_id, name)
        version = self._resolve(dataset, ref)
        records = self.repo.records(dataset.id, version.id, offset=offset, limit=limit)
        return RecordPage(
            version=version,
            total=version.record_count,
            offset=offset,
            limit=limit,
            records=records,
        )

    def diff(self, project_id: str, name: str, from_ref: str, to_ref: str) -> VersionDiff:
        dataset = self.repo.get(project_id, name)
        old, new = self._resolve(dataset, from_ref), self._resolve(dataset, to_ref)
        before = self.repo.content_hashes(dataset.id, old.id)
        after = self.repo.content_hashes(dataset.id, new.id)
        return VersionDiff(
            from_version=old,
            to_version=new,
            added=[rid for rid in after if rid not in before],
            removed=[rid for rid in before if rid not in after],
            changed=[rid for rid, h in after.items() if rid in before and before[rid] != h],
            unchanged=sum(1 for rid, h in after.items() if before.get(rid) == h),
        )

    # ---------------------------------------------------------------- writing

    def create(
        self,
        project_id: str,
        name: str,
        description: str = "",
        records: Sequence[Record] | None = None,
        *,
        actor: str,
        message: str = "",
    ) -> Commit | Dataset:
        """Create a dataset; with ``records``, also its first version (one transaction)."""
        check_name(name)
        if records is not None:
            check_records(records)
        with self.db.begin() as conn:
            dataset = self._create(conn, project_id, name, description, actor)
            if records is None:
                return dataset
            return self.commit_in(conn, dataset, records, actor=actor, message=message)

    def _create(
        self, conn: Connection, project_id: str, name: str, description: str, actor: str
    ) -> Dataset:
        dataset = self.repo.create(project_id, name, description, conn=conn)
        self.audit.record(
            project_id,
            actor=actor,
            action="dataset.create",
            object_type="dataset",
            object_id=dataset.id,
            data={"name": name},
            conn=conn,
        )
        return dataset

    def commit(
        self,
        project_id: str,
        name: str,
        records: Sequence[Record],
        *,
        actor: str,
        message: str = "",
        create: bool = False,
    ) -> Commit:
        """Commit ``records`` as a version; identical content reuses its version.

        ``latest`` then points at it. With ``create``, a missing dataset is created.
        """
        check_records(records)
        with self.db.begin() as conn:
            dataset = self.get_or_create(conn, project_id, name, create=create, actor=actor)
            return self.commit_in(conn, dataset, records, actor=actor, message=message)

    def get_or_create(
        self, conn: Connection, project_id: str, name: str, *, create: bool, actor: str
    ) -> Dataset:
        """The dataset inside the caller's transaction; with ``create``, made when missing."""
        try:
            return self.repo.get(project_id, name, conn=conn)
        except NotFoundError:
            if not create:
                raise
        check_name(name)
        return self._create(conn, project_id, name, "", actor)

    def commit_in(
        self,
        conn: Connection,
        dataset: Dataset,
        records: Sequence[Record],
        *,
        actor: str,
        message: str,
        parent_id: str | None = None,
        aliases: Iterable[str] = (LATEST,),
    ) -> Commit:
        """Commit a version inside the caller's transaction and move ``aliases`` to it.

        For features that must write the version together with their own rows (a
        promotion into ``golden``, traces added on top of a ``latest`` they checked).
        """
        self.repo.lock(dataset.project_id, dataset.id, conn)
        version = self.repo.find_version(dataset.id, version_digest(records), conn=conn)
        created = version is None
        if version is None:
            version = self.repo.add_version(
                dataset.id,
                records,
                infer_schema(records),
                actor=actor,
                message=message,
                parent_id=parent_id,
                conn=conn,
            )
            self.audit.record(
                dataset.project_id,
                actor=actor,
                action="dataset.version.create",
                object_type="dataset",
                object_id=dataset.id,
                reason=message or None,
                data={"version": version.id, "number": version.number, "records": len(records)},
                conn=conn,
            )
        for alias in aliases:
            self._move(conn, dataset, alias, version, actor=actor, reason=message or None)
        return Commit(dataset=dataset, version=version, created=created)

    def _move(
        self,
        conn: Connection,
        dataset: Dataset,
        alias: str,
        version: DatasetVersion,
        *,
        actor: str,
        reason: str | None,
    ) -> DatasetAlias:
        previous = self.repo.alias(dataset.id, alias, conn=conn)
        if previous is not None and previous.version_id == version.id:
            return previous
        moved = self.repo.set_alias(dataset.id, alias, version.id, actor=actor, conn=conn)
        self.audit.record(
            dataset.project_id,
            actor=actor,
            action="dataset.alias.move",
            object_type="dataset",
            object_id=dataset.id,
            reason=reason,
            data={
                "alias": alias,
                "from": previous.version_id if previous else None,
                "to": version.id,
                "number": version.number,
            },
            conn=conn,
        )
        return moved

    def move_alias(
        self,
        project_id: str,
        name: str,
        alias: str,
        ref: str,
        *,
        actor: str,
        reason: str | None = None,
    ) -> DatasetAlias:
        """Point ``alias`` at a version (``latest`` only moves by itself, on commits)."""
        check_alias(alias)
        if alias == LATEST:
            raise ValidationError(
                "'latest' moves by itself to each new commit; move another alias "
                "(golden, or a name of yours)"
            )
        dataset = self.repo.get(project_id, name)
        version = self._resolve(dataset, ref)
        with self.db.begin() as conn:
            return self._move(conn, dataset, alias, version, actor=actor, reason=reason)

    # ---------------------------------------------------------------- imports

    def import_file(
        self,
        project_id: str,
        name: str,
        data: bytes,
        fmt: FileFormat,
        mapping: ColumnMapping | None = None,
        *,
        actor: str,
        encoding: str = "utf-8",
        on_error: OnError = "skip",
        message: str = "",
        create: bool = True,
    ) -> ImportOutcome:
        """Read a file and commit what it holds: all accepted rows in one version, or nothing."""
        result = read_file(data, fmt, mapping, encoding=encoding, on_error=on_error)
        return self.import_result(
            project_id, name, result, actor=actor, message=message, create=create
        )

    def import_records(
        self,
        project_id: str,
        name: str,
        records: Iterable[Record | Mapping[str, Any]],
        *,
        actor: str,
        on_error: OnError = "skip",
        message: str = "",
        create: bool = True,
    ) -> ImportOutcome:
        result = from_records(records)
        if on_error == "fail":
            result.raise_if_skipped()
        return self.import_result(
            project_id, name, result, actor=actor, message=message, create=create
        )

    def import_result(
        self,
        project_id: str,
        name: str,
        result: ImportResult,
        *,
        actor: str,
        message: str = "",
        create: bool = True,
    ) -> ImportOutcome:
        if not result.records:
            raise ValidationError(
                f"no row of the {result.report.format} input could be imported "
                f"({len(result.report.skipped)} skipped); nothing was imported",
                details=result.report.model_dump(mode="json"),
            )
        message = message or f"import of {result.report.imported} {result.report.format} rows"
        commit = self.commit(
            project_id, name, result.records, actor=actor, message=message, create=create
        )
        return ImportOutcome(**dict(commit), report=result.report)

    # ---------------------------------------------------------------- derived versions

    def split(
        self,
        project_id: str,
        name: str,
        spec: SplitSpec,
        *,
        ref: str | None = None,
        save: bool = False,
        actor: str,
    ) -> SplitOutcome:
        """Stratified splits; with ``save``, each is a version aliased by its split name.

        Saved splits do not move ``latest``, which stays on the full data.
        """
        dataset = self.repo.get(project_id, name)
        source = self._resolve(dataset, ref)
        records = self.repo.records(dataset.id, source.id)
        result = split(records, spec)
        if not save:
            return SplitOutcome(split=result)
        by_id = {r.id: r for r in records}
        saved: dict[str, DatasetVersion] = {}
        with self.db.begin() as conn:
            for part, ids in result.parts.items():
                check_alias(part)
                if not ids:
                    continue
                note = f"{part} split of {source.label} (seed {spec.seed}"
                note += f", stratified by {spec.stratify})" if spec.stratify else ")"
                commit = self.commit_in(
                    conn,
                    dataset,
                    [by_id[i] for i in ids],
                    actor=actor,
                    message=note,
                    parent_id=source.id,
                    aliases=(part,),
                )
                saved[part] = commit.version
        return SplitOutcome(split=result, versions=saved)

    def duplicates(
        self, project_id: str, name: str, *, ref: str | None = None, threshold: float = 0.8
    ) -> DuplicateReport:
        if not 0 < threshold <= 1:
            raise ValidationError(f"threshold must be in (0, 1], got {threshold}")
        dataset = self.repo.get(project_id, name)
        version = self._resolve(dataset, ref)
        records = self.repo.records(dataset.id, version.id)
        groups = find_duplicates(records, threshold=threshold)
        return DuplicateReport(version=version, threshold=threshold, groups=groups)

    def dedup(
        self,
        project_id: str,
        name: str,
        *,
        ref: str | None = None,
        threshold: float = 0.8,
        actor: str,
    ) -> DedupOutcome:
        """Commit a version without the duplicates (the first of each group is kept)."""
        report = self.duplicates(project_id, name, ref=ref, threshold=threshold)
        dataset = self.repo.get(project_id, name)
        if not report.groups:
            unchanged = Commit(dataset=dataset, version=report.version, created=False)
            return DedupOutcome(report=report, removed=0, commit=unchanged)
        records = self.repo.records(dataset.id, report.version.id)
        kept = dedup(records, report.groups)
        message = (
            f"dedup of {report.version.label}: removed {len(records) - len(kept)} duplicates "
            f"(threshold {threshold})"
        )
        with self.db.begin() as conn:
            commit = self.commit_in(
                conn, dataset, kept, actor=actor, message=message, parent_id=report.version.id
            )
        return DedupOutcome(report=report, removed=len(records) - len(kept), commit=commit)

    # ---------------------------------------------------------------- listing

    def list(self, project_id: str) -> list[DatasetSummary]:
        return [self.summary(project_id, d.name) for d in self.repo.list(project_id)]
