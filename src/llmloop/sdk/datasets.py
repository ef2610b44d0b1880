"""``client.datasets``: versions, records, aliases, imports, exports, diffs, splits, dedup.

Files and DataFrames are read on the client with the same readers the server uses
(:mod:`llmloop.data.importers`) and committed as records, so a remote and a local client
import identically and report skipped rows the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from llmloop.data.datasets import (
    DatasetSummary,
    DedupOutcome,
    DuplicateReport,
    ImportOutcome,
    RecordPage,
    SplitOutcome,
    VersionDiff,
)
from llmloop.data.exporters import flat_columns, to_jsonl, to_parquet
from llmloop.data.importers import (
    ColumnMapping,
    FileFormat,
    ImportResult,
    OnError,
    from_pandas,
    read_file,
)
from llmloop.errors import ValidationError
from llmloop.records import Record
from llmloop.sdk.base import AsyncApi, Call, SyncApi, as_type
from llmloop.store.datasets import DatasetAlias, DatasetVersion

PAGE_SIZE = 1000
FORMATS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def _base(project: str, name: str | None = None) -> str:
    path = f"/api/v1/projects/{project}/datasets"
    return f"{path}/{name}" if name else path


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# ------------------------------------------------------------------------- calls


def list_datasets(project: str) -> Call[list[DatasetSummary]]:
    return Call("GET", _base(project), as_type(list[DatasetSummary]))


def get_dataset(project: str, name: str) -> Call[DatasetSummary]:
    return Call("GET", _base(project, name), as_type(DatasetSummary))


def create_dataset(
    project: str, name: str, description: str, records: Sequence[Record] | None, message: str
) -> Call[DatasetSummary]:
    body: dict[str, Any] = {"name": name, "description": description, "message": message}
    if records is not None:
        body["records"] = [r.model_dump(mode="json") for r in records]
    return Call("POST", _base(project), as_type(DatasetSummary), json=body)


def commit(
    project: str,
    name: str,
    records: Sequence[Record],
    message: str,
    create: bool,
    on_error: OnError,
) -> Call[ImportOutcome]:
    body = {
        "records": [r.model_dump(mode="json") for r in records],
        "message": message,
        "create": create,
        "on_error": on_error,
    }
    return Call("POST", f"{_base(project, name)}/versions", as_type(ImportOutcome), json=body)


def list_versions(project: str, name: str) -> Call[list[DatasetVersion]]:
    return Call("GET", f"{_base(project, name)}/versions", as_type(list[DatasetVersion]))


def get_version(project: str, name: str, ref: str) -> Call[DatasetVersion]:
    return Call("GET", f"{_base(project, name)}/versions/{ref}", as_type(DatasetVersion))


def records_page(
    project: str, name: str, version: str | None, offset: int, limit: int
) -> Call[RecordPage]:
    params = _params(version=version, offset=offset, limit=limit)
    return Call("GET", f"{_base(project, name)}/records", as_type(RecordPage), params=params)


def list_aliases(project: str, name: str) -> Call[list[DatasetAlias]]:
    return Call("GET", f"{_base(project, name)}/aliases", as_type(list[DatasetAlias]))


def move_alias(
    project: str, name: str, alias: str, version: str, reason: str | None
) -> Call[DatasetAlias]:
    path = f"{_base(project, name)}/aliases/{alias}"
    return Call("PUT", path, as_type(DatasetAlias), json={"version": version, "reason": reason})


def diff(project: str, name: str, from_version: str, to_version: str) -> Call[VersionDiff]:
    params = {"from": from_version, "to": to_version}
    return Call("GET", f"{_base(project, name)}/diff", as_type(VersionDiff), params=params)


def split(
    project: str,
    name: str,
    stratify: str | None,
    fractions: dict[str, float] | None,
    seed: int,
    version: str | None,
    save: bool,
) -> Call[SplitOutcome]:
    body = _params(stratify=stratify, fractions=fractions, seed=seed, version=version, save=save)
    return Call("POST", f"{_base(project, name)}/split", as_type(SplitOutcome), json=body)


def duplicates(
    project: str, name: str, threshold: float, version: str | None
) -> Call[DuplicateReport]:
    params = _params(threshold=threshold, version=version)
    path = f"{_base(project, name)}/duplicates"
    return Call("GET", path, as_type(DuplicateReport), params=params)


def dedup(project: str, name: str, threshold: float, version: str | None) -> Call[DedupOutcome]:
    body = _params(threshold=threshold, version=version)
    return Call("POST", f"{_base(project, name)}/dedup", as_type(DedupOutcome), json=body)


# ------------------------------------------------------------------------- client side


def read_path(
    path: str | Path,
    fmt: FileFormat | None,
    mapping: ColumnMapping | None,
    encoding: str,
    on_error: OnError,
) -> ImportResult:
    """Read a local file (format from its suffix unless given)."""
    path = Path(path)
    fmt = fmt or FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValidationError(
            f"cannot tell the format of {path.name!r}; pass format='csv', 'jsonl' or 'parquet'"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    return read_file(data, fmt, mapping, encoding=encoding, on_error=on_error)


def frame_of(records: Sequence[Record]) -> pd.DataFrame:
    """One row per record; columns ``id``, ``inputs.x``, ``expectations.x``, ``metadata.x``…"""
    return pd.DataFrame(flat_columns(records))


def encode(records: Sequence[Record], fmt: str) -> bytes:
    if fmt == "jsonl":
        return to_jsonl(records)
    if fmt == "parquet":
        return to_parquet(records)
    raise ValidationError(f"unknown export format {fmt!r}; use jsonl or parquet")


def _with_report(outcome: ImportOutcome, result: ImportResult) -> ImportOutcome:
    return outcome.model_copy(update={"report": result.report})


def _frame_commit(
    project: str,
    name: str,
    frame: pd.DataFrame,
    mapping: ColumnMapping | None,
    message: str,
    create: bool,
    on_error: OnError,
) -> tuple[Call[ImportOutcome], ImportResult]:
    """The commit of a DataFrame's importable rows, and the import's report."""
    result = from_pandas(frame, mapping)
    if on_error == "fail":
        result.raise_if_skipped()
    message = message or f"import of {len(result.records)} DataFrame rows"
    return commit(project, name, result.records, message, create, "fail"), result


# ------------------------------------------------------------------------- APIs


class DatasetsApi(SyncApi):
    def get(self, name: str) -> DatasetSummary:
        return self._run(get_dataset(self._project, name))

    def create(
        self,
        name: str,
        records: Sequence[Record] | None = None,
        *,
        description: str = "",
        message: str = "",
    ) -> DatasetSummary:
        """Create a dataset; with ``records``, its first version too."""
        return self._run(create_dataset(self._project, name, description, records, message))

    def commit(
        self, name: str, records: Sequence[Record], *, message: str = "", create: bool = False
    ) -> ImportOutcome:
        """Commit records as a version (identical content reuses it); ``latest`` follows."""
        return self._run(commit(self._project, name, records, message, create, "fail"))

    def versions(self, name: str) -> list[DatasetVersion]:
        return self._run(list_versions(self._project, name))

    def version(self, name: str, ref: str = "latest") -> DatasetVersion:
        return self._run(get_version(self._project, name, ref))

    def records(
        self, name: str, version: str | None = None, *, limit: int | None = None
    ) -> list[Record]:
        """Records of a version (default ``latest``), in order, all or the first ``limit``."""
        version = self.version(name, version or "latest").id  # pin it across pages
        found: list[Record] = []
        while limit is None or len(found) < limit:
            size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(found))
            page = self._run(records_page(self._project, name, version, len(found), size))
            found.extend(page.records)
            if len(page.records) < size:
                break
        return found

    def to_pandas(self, name: str, version: str | None = None) -> pd.DataFrame:
        return frame_of(self.records(name, version))

    def from_pandas(
        self,
        name: str,
        frame: pd.DataFrame,
        mapping: ColumnMapping | None = None,
        *,
        message: str = "",
        create: bool = True,
        on_error: OnError = "skip",
    ) -> ImportOutcome:
        """Commit a DataFrame's rows as a version; the report lists skipped rows."""
        call, result = _frame_commit(self._project, name, frame, mapping, message, create, on_error)
        return _with_report(self._run(call), result)

    def import_file(
        self,
        name: str,
        path: str | Path,
        mapping: ColumnMapping | None = None,
        *,
        format: FileFormat | None = None,
        encoding: str = "utf-8",
        on_error: OnError = "skip",
        message: str = "",
        create: bool = True,
    ) -> ImportOutcome:
        """Import a CSV, JSONL or Parquet file as a new version: all accepted rows or none."""
        result = read_path(path, format, mapping, encoding, on_error)
        message = message or f"import of {len(result.records)} rows of {Path(path).name}"
        if not result.records:
            raise ValidationError(
                f"no row of {str(path)!r} could be imported; nothing was imported",
                details=result.report.model_dump(mode="json"),
            )
        outcome = self._run(commit(self._project, name, result.records, message, create, "fail"))
        return _with_report(outcome, result)

    def export(
        self, name: str, path: str | Path, *, version: str | None = None, format: str = "jsonl"
    ) -> int:
        """Write a version to ``path`` as JSONL or Parquet; return the number of records."""
        records = self.records(name, version)
        Path(path).write_bytes(encode(records, format))
        return len(records)

    def aliases(self, name: str) -> list[DatasetAlias]:
        return self._run(list_aliases(self._project, name))

    def alias(
        self, name: str, alias: str, version: str, *, reason: str | None = None
    ) -> DatasetAlias:
        """Point ``alias`` (``golden`` or yours) at a version; the move is audited."""
        return self._run(move_alias(self._project, name, alias, version, reason))

    def diff(self, name: str, from_version: str, to_version: str = "latest") -> VersionDiff:
        return self._run(diff(self._project, name, from_version, to_version))

    def split(
        self,
        name: str,
        *,
        stratify: str | None = None,
        fractions: dict[str, float] | None = None,
        seed: int = 0,
        version: str | None = None,
        save: bool = False,
    ) -> SplitOutcome:
        call = split(self._project, name, stratify, fractions, seed, version, save)
        return self._run(call)

    def duplicates(
        self, name: str, *, threshold: float = 0.8, version: str | None = None
    ) -> DuplicateReport:
        return self._run(duplicates(self._project, name, threshold, version))

    def dedup(
        self, name: str, *, threshold: float = 0.8, version: str | None = None
    ) -> DedupOutcome:
        return self._run(dedup(self._project, name, threshold, version))

    def list(self) -> list[DatasetSummary]:
        return self._run(list_datasets(self._project))


class AsyncDatasetsApi(AsyncApi):
    async def get(self, name: str) -> DatasetSummary:
        return await self._run(get_dataset(self._project, name))

    async def create(
        self,
        name: str,
        records: Sequence[Record] | None = None,
        *,
        description: str = "",
        message: str = "",
    ) -> DatasetSummary:
        return await self._run(create_dataset(self._project, name, description, records, message))

    async def commit(
        self, name: str, records: Sequence[Record], *, message: str = "", create: bool = False
    ) -> ImportOutcome:
        return await self._run(commit(self._project, name, records, message, create, "fail"))

    async def versions(self, name: str) -> list[DatasetVersion]:
        return await self._run(list_versions(self._project, name))

    async def version(self, name: str, ref: str = "latest") -> DatasetVersion:
        return await self._run(get_version(self._project, name, ref))

    async def records(
        self, name: str, version: str | None = None, *, limit: int | None = None
    ) -> list[Record]:
        version = (await self.version(name, version or "latest")).id
        found: list[Record] = []
        while limit is None or len(found) < limit:
            size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(found))
            page = await self._run(records_page(self._project, name, version, len(found), size))
            found.extend(page.records)
            if len(page.records) < size:
                break
        return found

    async def to_pandas(self, name: str, version: str | None = None) -> pd.DataFrame:
        return frame_of(await self.records(name, version))

    async def from_pandas(
        self,
        name: str,
        frame: pd.DataFrame,
        mapping: ColumnMapping | None = None,
        *,
        message: str = "",
        create: bool = True,
        on_error: OnError = "skip",
    ) -> ImportOutcome:
        call, result = _frame_commit(self._project, name, frame, mapping, message, create, on_error)
        return _with_report(await self._run(call), result)

    async def aliases(self, name: str) -> list[DatasetAlias]:
        return await self._run(list_aliases(self._project, name))

    async def alias(
        self, name: str, alias: str, version: str, *, reason: str | None = None
    ) -> DatasetAlias:
        return await self._run(move_alias(self._project, name, alias, version, reason))

    async def diff(self, name: str, from_version: str, to_version: str = "latest") -> VersionDiff:
        return await self._run(diff(self._project, name, from_version, to_version))

    async def split(
        self,
        name: str,
        *,
        stratify: str | None = None,
        fractions: dict[str, float] | None = None,
        seed: int = 0,
        version: str | None = None,
        save: bool = False,
    ) -> SplitOutcome:
        call = split(self._project, name, stratify, fractions, seed, version, save)
        return await self._run(call)

    async def duplicates(
        self, name: str, *, threshold: float = 0.8, version: str | None = None
    ) -> DuplicateReport:
        return await self._run(duplicates(self._project, name, threshold, version))

    async def dedup(
        self, name: str, *, threshold: float = 0.8, version: str | None = None
    ) -> DedupOutcome:
        return await self._run(dedup(self._project, name, threshold, version))

    async def list(self) -> list[DatasetSummary]:
        return await self._run(list_datasets(self._project))
