"""``llmloop datasets``: list, show, import, export, diff, alias, split, dedup."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmloop.cli.output import JsonOption, console, print_json, show
from llmloop.data.importers import ColumnMapping, FileFormat, ImportReport, OnError
from llmloop.sdk.client import connect
from llmloop.store.datasets import DatasetVersion

datasets_app = typer.Typer(
    help="Datasets: versions, aliases, imports and exports.", no_args_is_help=True
)

NameArg = Annotated[str, typer.Argument(help="Dataset name.")]
VersionOpt = Annotated[
    str | None, typer.Option("--version", "-v", help="Alias, number (v2) or id; default latest.")
]
Columns = Annotated[list[str] | None, typer.Option(help="Column names (repeat the option).")]

VERSION_COLUMNS = [
    ("version", lambda v: v.label),
    ("id", lambda v: v.id),
    ("records", lambda v: v.record_count),
    ("created", lambda v: v.created_at),
    ("by", lambda v: v.created_by),
    ("message", lambda v: v.message),
]


@datasets_app.command("list")
def datasets_list(as_json: JsonOption = False) -> None:
    """List datasets with their latest version."""
    with connect() as client:
        summaries = client.datasets.list()
    show(
        summaries,
        as_json,
        [
            ("name", lambda s: s.dataset.name),
            ("versions", lambda s: s.versions),
            ("latest", lambda s: s.latest.label if s.latest else None),
            ("records", lambda s: s.latest.record_count if s.latest else None),
            ("aliases", lambda s: ", ".join(a.name for a in s.aliases)),
            ("description", lambda s: s.dataset.description),
        ],
        title="Datasets",
        empty="no datasets yet; create one with `llmloop datasets import NAME FILE`",
    )


@datasets_app.command("show")
def datasets_show(name: NameArg, as_json: JsonOption = False) -> None:
    """A dataset's versions, aliases and the latest version's fields and slices."""
    with connect() as client:
        summary = client.datasets.get(name)
        versions = client.datasets.versions(name)
    if as_json:
        print_json({"summary": summary, "versions": versions})
        return
    console.print(f"[bold]{summary.dataset.name}[/bold] {summary.dataset.description}")
    labels = {v.id: v.label for v in versions}
    for alias in summary.aliases:
        console.print(f"  {alias.name} -> {labels.get(alias.version_id, alias.version_id)}")
    show(versions, False, VERSION_COLUMNS, title="Versions")
    if summary.latest is not None:
        _print_schema(summary.latest)


def _print_schema(version: DatasetVersion) -> None:
    schema = version.field_schema
    for part in ("inputs", "outputs", "expectations", "metadata"):
        fields = getattr(schema, part)
        if fields:
            shown = ", ".join(f"{k} ({'/'.join(f.types)})" for k, f in fields.items())
            console.print(f"{part}: {shown}", highlight=False)
    for key, counts in schema.slices.items():
        shown = ", ".join(f"{value}={count}" for value, count in counts.items())
        console.print(f"slice {key}: {shown}", highlight=False)


@datasets_app.command("import")
def datasets_import(
    name: NameArg,
    path: Annotated[Path, typer.Argument(help="A .csv, .jsonl or .parquet file.")],
    format: Annotated[FileFormat | None, typer.Option(help="Default: from the suffix.")] = None,
    id_column: Annotated[str | None, typer.Option("--id", help="Column of record ids.")] = None,
    inputs: Columns = None,
    outputs: Columns = None,
    expectations: Columns = None,
    metadata: Columns = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of CSV/JSONL.")] = "utf-8",
    on_error: Annotated[OnError, typer.Option(help="skip bad rows, or fail on any")] = "skip",
    message: Annotated[str, typer.Option(help="Why this version.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Import a file as a new version (created when missing); prints what was skipped."""
    mapping = ColumnMapping(
        id=id_column,
        inputs=inputs or [],
        outputs=outputs or [],
        expectations=expectations or [],
        metadata=metadata or [],
    )
    with connect() as client:
        outcome = client.datasets.import_file(
            name, path, mapping, format=format, encoding=encoding, on_error=on_error,
            message=message,
        )  # fmt: skip
    if as_json:
        print_json(outcome)
        return
    state = "new version" if outcome.created else "same content as"
    console.print(
        f"{name}: {state} {outcome.version.label} ({outcome.version.id}), "
        f"{outcome.report.imported} records imported"
    )
    _print_skipped(outcome.report)


def _print_skipped(report: ImportReport) -> None:
    if report.skipped:
        console.print(f"[yellow]{len(report.skipped)} rows skipped:[/yellow]")
        for row in report.skipped[:50]:
            console.print(f"  row {row.row}: {row.reason}", highlight=False)


@datasets_app.command("export")
def datasets_export(
    name: NameArg,
    path: Annotated[Path, typer.Argument(help="File to write.")],
    version: VersionOpt = None,
    format: Annotated[str | None, typer.Option(help="jsonl or parquet; default: suffix")] = None,
) -> None:
    """Write a version to a JSONL or Parquet file."""
    fmt = format or ("parquet" if path.suffix.lower() in (".parquet", ".pq") else "jsonl")
    with connect() as client:
        count = client.datasets.export(name, path, version=version, format=fmt)
    console.print(f"wrote {count} records to {path}")


@datasets_app.command("diff")
def datasets_diff(
    name: NameArg,
    from_version: Annotated[str, typer.Argument(help="Older version (alias, v1, id).")],
    to_version: Annotated[str, typer.Argument(help="Newer version.")] = "latest",
    as_json: JsonOption = False,
) -> None:
    """Records added, removed and changed between two versions (by record id)."""
    with connect() as client:
        diff = client.datasets.diff(name, from_version, to_version)
    if as_json:
        print_json(diff)
        return
    console.print(
        f"{diff.from_version.label} -> {diff.to_version.label}: {len(diff.added)} added, "
        f"{len(diff.removed)} removed, {len(diff.changed)} changed, {diff.unchanged} unchanged"
    )
    for sign, ids in (("+", diff.added), ("-", diff.removed), ("~", diff.changed)):
        for rid in ids[:20]:
            console.print(f"  {sign} {rid}", highlight=False)


@datasets_app.command("alias")
def datasets_alias(
    name: NameArg,
    alias: Annotated[str, typer.Argument(help="Alias to move, e.g. golden.")],
    version: Annotated[str, typer.Argument(help="Version it should point at.")],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Point an alias at a version (audited)."""
    with connect() as client:
        moved = client.datasets.alias(name, alias, version, reason=reason)
    if as_json:
        print_json(moved)
        return
    console.print(f"{name}: {moved.name} -> {moved.version_id}")


@datasets_app.command("split")
def datasets_split(
    name: NameArg,
    stratify: Annotated[str | None, typer.Option(help="Field, e.g. language.")] = None,
    train: Annotated[float, typer.Option(min=0, max=1)] = 0.8,
    dev: Annotated[float, typer.Option(min=0, max=1)] = 0.1,
    test: Annotated[float, typer.Option(min=0, max=1)] = 0.1,
    seed: int = 0,
    version: VersionOpt = None,
    save: Annotated[bool, typer.Option(help="Save splits as versions aliased by name.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Stratified train/dev/test split, deterministic for a seed."""
    fractions = {"train": train, "dev": dev, "test": test}
    with connect() as client:
        outcome = client.datasets.split(
            name, stratify=stratify, fractions=fractions, seed=seed, version=version, save=save
        )
    if as_json:
        print_json(outcome)
        return
    for part, ids in outcome.split.parts.items():
        saved = outcome.versions.get(part)
        where = f" -> {saved.label} ({saved.id})" if saved else ""
        strata = outcome.split.strata.get(part, {})
        detail = ", ".join(f"{k}={v}" for k, v in strata.items())
        console.print(f"{part}: {len(ids)} records{where} {detail}", highlight=False)


@datasets_app.command("dedup")
def datasets_dedup(
    name: NameArg,
    threshold: Annotated[float, typer.Option(min=0.01, max=1, help="MinHash Jaccard.")] = 0.8,
    version: VersionOpt = None,
    dry_run: Annotated[bool, typer.Option(help="Only list the duplicate groups.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Find exact and near duplicates; without --dry-run, commit a version without them."""
    with connect() as client:
        if dry_run:
            report = client.datasets.duplicates(name, threshold=threshold, version=version)
            if as_json:
                print_json(report)
                return
            groups = report.groups
        else:
            outcome = client.datasets.dedup(name, threshold=threshold, version=version)
            if as_json:
                print_json(outcome)
                return
            groups = outcome.report.groups
            console.print(
                f"removed {outcome.removed} records -> {outcome.commit.version.label} "
                f"({outcome.commit.version.id})"
            )
    show(
        groups,
        False,
        [
            ("kind", lambda g: g.kind),
            ("similarity", lambda g: f"{g.similarity:.2f}"),
            ("kept", lambda g: g.record_ids[0]),
            ("duplicates", lambda g: ", ".join(g.record_ids[1:])),
        ],
        title="Duplicate groups",
        empty="no duplicates",
    )
