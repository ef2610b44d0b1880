"""Datasets: versions, records, aliases, diffs, splits, duplicates, imports and exports."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import pydantic
from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from llmloop.data.datasets import (
    Datasets,
    DatasetSummary,
    DedupOutcome,
    DuplicateReport,
    ImportOutcome,
    RecordPage,
    SplitOutcome,
    VersionDiff,
)
from llmloop.data.exporters import to_jsonl, to_parquet
from llmloop.data.importers import ColumnMapping, FileFormat, OnError
from llmloop.data.splits import SplitSpec
from llmloop.errors import ValidationError
from llmloop.records import Record
from llmloop.server.deps import Editor, ProjectDep, RuntimeDep, Viewer
from llmloop.store.datasets import DatasetAlias, DatasetVersion

router = APIRouter(tags=["datasets"])
BASE = "/projects/{project}/datasets"
DATASET = BASE + "/{dataset}"


def get_datasets(runtime: RuntimeDep) -> Datasets:
    return Datasets(runtime.db, runtime.tenancy.audit)


DatasetsDep = Annotated[Datasets, Depends(get_datasets)]
VersionRef = Annotated[
    str | None, Query(description="Alias (default latest), number (v2) or id (dsv_…).")
]


class DatasetCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["support-tickets"])
    description: str = Field(default="", max_length=5000)
    records: list[Record] | None = Field(default=None, description="Optional first version.")
    message: str = Field(default="", max_length=2000)


class VersionCommit(BaseModel):
    records: list[dict[str, Any]] = Field(description="Records (Record fields as JSON).")
    message: str = Field(default="", max_length=2000)
    on_error: OnError = Field(
        default="fail", description="'fail': refuse all on a bad record; 'skip': report it."
    )
    create: bool = Field(default=False, description="Create the dataset when missing.")


class AliasMove(BaseModel):
    version: str = Field(min_length=1, description="Alias, number (v2) or id (dsv_…).")
    reason: str | None = Field(default=None, max_length=2000)


class SplitRequest(SplitSpec):
    version: str | None = None
    save: bool = Field(default=False, description="Save each split as a version and alias.")


class DedupRequest(BaseModel):
    version: str | None = None
    threshold: float = Field(default=0.8, gt=0, le=1)


@router.get(BASE, summary="Datasets with their latest version and aliases.")
def list_datasets(project: ProjectDep, _: Viewer, data: DatasetsDep) -> list[DatasetSummary]:
    return data.list(project.id)


@router.post(BASE, status_code=201, summary="Create a dataset, optionally with records.")
def create_dataset(
    body: DatasetCreate, project: ProjectDep, principal: Editor, data: DatasetsDep
) -> DatasetSummary:
    data.create(
        project.id,
        body.name,
        body.description,
        body.records,
        actor=principal.actor,
        message=body.message,
    )
    return data.summary(project.id, body.name)


@router.get(DATASET, summary="A dataset with its latest version and aliases.")
def get_dataset(dataset: str, project: ProjectDep, _: Viewer, data: DatasetsDep) -> DatasetSummary:
    return data.summary(project.id, dataset)


@router.get(DATASET + "/versions", summary="Versions, newest first.")
def list_versions(
    dataset: str, project: ProjectDep, _: Viewer, data: DatasetsDep
) -> list[DatasetVersion]:
    return data.versions(project.id, dataset)


@router.post(DATASET + "/versions", status_code=201, summary="Commit records as a version.")
def commit_version(
    dataset: str, body: VersionCommit, project: ProjectDep, principal: Editor, data: DatasetsDep
) -> ImportOutcome:
    return data.import_records(
        project.id,
        dataset,
        body.records,
        actor=principal.actor,
        on_error=body.on_error,
        message=body.message,
        create=body.create,
    )


@router.get(DATASET + "/versions/{version}", summary="One version and its field schema.")
def get_version(
    dataset: str, version: str, project: ProjectDep, _: Viewer, data: DatasetsDep
) -> DatasetVersion:
    return data.version(project.id, dataset, version)


@router.get(DATASET + "/records", summary="A page of a version's records.")
def list_records(
    dataset: str,
    project: ProjectDep,
    _: Viewer,
    data: DatasetsDep,
    version: VersionRef = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RecordPage:
    return data.page(project.id, dataset, version, offset=offset, limit=limit)


@router.get(DATASET + "/aliases", summary="Aliases and the versions they point at.")
def list_aliases(
    dataset: str, project: ProjectDep, _: Viewer, data: DatasetsDep
) -> list[DatasetAlias]:
    return data.aliases(project.id, dataset)


@router.put(DATASET + "/aliases/{alias}", summary="Point an alias at a version (audited).")
def move_alias(
    dataset: str,
    alias: str,
    body: AliasMove,
    project: ProjectDep,
    principal: Editor,
    data: DatasetsDep,
) -> DatasetAlias:
    return data.move_alias(
        project.id, dataset, alias, body.version, actor=principal.actor, reason=body.reason
    )


@router.get(DATASET + "/diff", summary="Records added, removed and changed between versions.")
def diff_versions(
    dataset: str,
    project: ProjectDep,
    _: Viewer,
    data: DatasetsDep,
    from_version: Annotated[str, Query(alias="from", min_length=1)],
    to_version: Annotated[str, Query(alias="to", min_length=1)] = "latest",
) -> VersionDiff:
    return data.diff(project.id, dataset, from_version, to_version)


@router.post(DATASET + "/split", summary="Stratified train/dev/test splits.")
def split_dataset(
    dataset: str, body: SplitRequest, project: ProjectDep, principal: Editor, data: DatasetsDep
) -> SplitOutcome:
    spec = SplitSpec(fractions=body.fractions, stratify=body.stratify, seed=body.seed)
    return data.split(
        project.id, dataset, spec, ref=body.version, save=body.save, actor=principal.actor
    )


@router.get(DATASET + "/duplicates", summary="Exact and near-duplicate groups (MinHash).")
def find_duplicates(
    dataset: str,
    project: ProjectDep,
    _: Viewer,
    data: DatasetsDep,
    version: VersionRef = None,
    threshold: Annotated[float, Query(gt=0, le=1)] = 0.8,
) -> DuplicateReport:
    return data.duplicates(project.id, dataset, ref=version, threshold=threshold)


@router.post(DATASET + "/dedup", summary="Commit a version without the duplicates.")
def dedup_dataset(
    dataset: str, body: DedupRequest, project: ProjectDep, principal: Editor, data: DatasetsDep
) -> DedupOutcome:
    return data.dedup(
        project.id, dataset, ref=body.version, threshold=body.threshold, actor=principal.actor
    )


@router.post(DATASET + "/upload", status_code=201, summary="Import a CSV, JSONL or Parquet file.")
async def upload_file(
    dataset: str,
    project: ProjectDep,
    principal: Editor,
    data: DatasetsDep,
    file: Annotated[UploadFile, File(description="The file to import.")],
    format: Annotated[FileFormat | None, Form(description="Default: from the file name.")] = None,
    mapping: Annotated[str | None, Form(description="ColumnMapping as JSON.")] = None,
    encoding: Annotated[str, Form(max_length=40)] = "utf-8",
    on_error: Annotated[OnError, Form()] = "skip",
    message: Annotated[str, Form(max_length=2000)] = "",
) -> ImportOutcome:
    content = await file.read()
    return data.import_file(
        project.id,
        dataset,
        content,
        format or format_of(file.filename),
        parse_mapping(mapping),
        actor=principal.actor,
        encoding=encoding,
        on_error=on_error,
        message=message,
    )


@router.get(DATASET + "/export", summary="A version as JSONL or Parquet.")
def export_dataset(
    dataset: str,
    project: ProjectDep,
    _: Viewer,
    data: DatasetsDep,
    version: VersionRef = None,
    format: Literal["jsonl", "parquet"] = "jsonl",
) -> Response:
    resolved = data.version(project.id, dataset, version)
    records = data.records(project.id, dataset, resolved.id)
    body = to_jsonl(records) if format == "jsonl" else to_parquet(records)
    media = "application/x-ndjson" if format == "jsonl" else "application/vnd.apache.parquet"
    filename = f"{dataset}-{resolved.label}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(body, media_type=media, headers=headers)


def format_of(filename: str | None) -> FileFormat:
    suffix = (filename or "").rsplit(".", 1)[-1].lower()
    formats: dict[str, FileFormat] = {
        "csv": "csv",
        "jsonl": "jsonl",
        "ndjson": "jsonl",
        "parquet": "parquet",
        "pq": "parquet",
    }
    if suffix not in formats:
        raise ValidationError(
            f"cannot tell the format of {filename!r}; pass format=csv, jsonl or parquet"
        )
    return formats[suffix]


def parse_mapping(text: str | None) -> ColumnMapping | None:
    if not text:
        return None
    try:
        return ColumnMapping.model_validate(json.loads(text))
    except (json.JSONDecodeError, pydantic.ValidationError) as exc:
        raise ValidationError(
            f"mapping must be a JSON object with id, inputs, outputs, expectations, metadata: "
            f"{exc}".splitlines()[0]
        ) from None
