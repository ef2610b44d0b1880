"""``llmloop label``: apply labeling functions, analyse them, fit the label model,
simulate active learning, and check a dataset's coverage of production traffic."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from llmloop.cli.output import JsonOption, console, print_json, print_table
from llmloop.errors import ValidationError
from llmloop.sdk.client import connect
from llmloop.sdk.labeling import FunctionLike
from llmloop.store.label_matrices import StoredMatrix

label_app = typer.Typer(
    help="Weak supervision: labeling functions, label model, active learning, coverage.",
    no_args_is_help=True,
)

DatasetArg = Annotated[str, typer.Argument(help="Dataset name.")]
MatrixOpt = Annotated[str, typer.Option("--matrix", "-m", help="Label matrix name or id.")]
VersionOpt = Annotated[
    str | None, typer.Option("--version", "-v", help="Alias, number (v2) or id; default latest.")
]


def _read_functions(path: Path | None, python: list[str] | None) -> list[FunctionLike]:
    functions: list[FunctionLike] = []
    if path is not None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValidationError(f"cannot read {str(path)!r}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ValidationError(f"{str(path)!r} is not valid JSON: {exc}") from None
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise ValidationError(f"{str(path)!r} must hold a JSON list of function specs")
        functions += data
    functions += list(python or [])
    if not functions:
        raise ValidationError("give --functions FILE.json and/or --python pkg.module:attribute")
    return functions


@label_app.command("apply")
def label_apply(
    dataset: DatasetArg,
    classes: Annotated[list[str], typer.Option("--class", "-c", help="A class (repeat).")],
    functions: Annotated[
        Path | None, typer.Option("--functions", "-f", help="JSON list of function specs.")
    ] = None,
    python: Annotated[
        list[str] | None, typer.Option("--python", help="pkg.module:attribute (repeat).")
    ] = None,
    version: VersionOpt = None,
    name: Annotated[str, typer.Option(help="Name of the stored matrix.")] = "default",
    gold_field: Annotated[
        str | None, typer.Option(help="expectations key with gold labels.")
    ] = None,
    replace: Annotated[bool, typer.Option(help="Replace a matrix of that name.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Apply labeling functions to a dataset version and store the label matrix."""
    specs = _read_functions(functions, python)
    with connect() as client, Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
        console=console, disable=as_json, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task(f"labeling {dataset}", total=1.0)

        def progress(matrix: StoredMatrix) -> None:
            bar.update(task, completed=matrix.progress)

        matrix = client.labeling.apply(
            dataset, specs, classes, version=version, name=name, gold_field=gold_field,
            replace=replace, on_progress=progress,
        )  # fmt: skip
    if as_json:
        print_json(matrix)
        return
    _print_matrix(matrix)


def _print_matrix(matrix: StoredMatrix) -> None:
    console.print(
        f"matrix [bold]{matrix.name}[/bold] ({matrix.id}): {matrix.status}, "
        f"{matrix.rows} records x {matrix.columns} functions in {matrix.seconds:.2f} s",
        highlight=False,
    )
    if matrix.error:
        console.print(f"[red]failed:[/red] {matrix.error}", highlight=False)
    for function, count in matrix.failures.get("counts", {}).items():
        console.print(f"[yellow]{function} failed on {count} records (abstained)[/yellow]")
        for example in matrix.failures.get("examples", []):
            if example["function"] == function:
                console.print(f"  {example['record_id']}: {example['error']}", highlight=False)


@label_app.command("show")
def label_show(
    dataset: DatasetArg, matrix: MatrixOpt = "default", as_json: JsonOption = False
) -> None:
    """A stored matrix: its functions, status, failures, and the latest fit."""
    with connect() as client:
        latest = client.labeling.latest_fit(dataset, matrix)
    if as_json:
        print_json(latest)
        return
    _print_matrix(latest.matrix)
    print_table(
        latest.matrix.functions,
        [("function", lambda f: f["name"]), ("kind", lambda f: f["kind"]),
         ("settings", lambda f: json.dumps(f.get("settings", {}))[:80])],
        title="Functions",
    )  # fmt: skip
    if latest.fit is not None:
        _print_fit(latest.fit.report)


@label_app.command("analysis")
def label_analysis(
    dataset: DatasetArg, matrix: MatrixOpt = "default", as_json: JsonOption = False
) -> None:
    """Coverage, overlap, conflict and accuracy (where gold labels exist) per function."""
    with connect() as client:
        analysis = client.labeling.analysis(dataset, matrix)
    if as_json:
        print_json(analysis)
        return

    def pct(key: str) -> Any:
        return lambda s: None if s.get(key) is None else f"{s[key]:.1%}"

    print_table(
        analysis.sources,
        [("function", lambda s: s["name"]), ("votes", lambda s: "/".join(s["polarity"])),
         ("coverage", pct("coverage")), ("overlap", pct("overlap")),
         ("conflict", pct("conflict")), ("accuracy", pct("empirical_accuracy")),
         ("learned", pct("learned_accuracy")), ("errors", lambda s: s["errors"])],
        title=f"Labeling functions on {dataset} ({analysis.coverage:.1%} of records covered, "
        f"{analysis.gold_records} with gold labels)",
    )  # fmt: skip


def _print_fit(report: dict[str, Any]) -> None:
    balance = ", ".join(f"{c}={p:.1%}" for c, p in report["class_balance"].items())
    console.print(
        f"label model: {report['iterations']} EM steps in {report['fit_seconds']:.3f} s, "
        f"coverage {report['coverage']:.1%}, class balance {balance}, "
        f"agrees with majority vote on {report['agreement_with_majority_vote']:.1%}",
        highlight=False,
    )
    for score in report.get("scores", []):
        console.print(
            f"  {score['method']}: accuracy {score['accuracy']:.3f} on {score['evaluated']} gold",
            highlight=False,
        )


@label_app.command("fit")
def label_fit(
    dataset: DatasetArg,
    matrix: MatrixOpt = "default",
    class_balance: Annotated[str, typer.Option(help="votes or learn")] = "votes",
    write: Annotated[
        str | None, typer.Option(help="Write labels to this expectations key as a new version.")
    ] = None,
    min_confidence: Annotated[float, typer.Option(help="Only labels this confident.")] = 0.0,
    as_json: JsonOption = False,
) -> None:
    """Fit the label model on a stored matrix (and write its labels into a new version)."""
    with connect() as client:
        outcome = client.labeling.fit(dataset, matrix, class_balance=class_balance)
        written = None
        if write:
            written = client.labeling.write_labels(
                dataset, matrix, field=write, min_confidence=min_confidence
            )
    if as_json:
        print_json({"fit": outcome.fit, "labels": written})
        return
    _print_fit(outcome.fit.report)
    if written is not None:
        console.print(
            f"wrote '{written.field}' to {written.labeled} records: {dataset} "
            f"{written.commit.version.label} ({written.commit.version.id})",
            highlight=False,
        )


@label_app.command("simulate")
def label_simulate(
    dataset: DatasetArg,
    label_field: Annotated[str, typer.Option(help="expectations key holding the labels.")],
    strategy: Annotated[
        list[str] | None, typer.Option("--strategy", "-s", help="Strategy (repeat).")
    ] = None,
    text_field: Annotated[str, typer.Option(help="Text: inputs key or part.key.")] = "text",
    initial: int = 20,
    batch: int = 20,
    rounds: int = 15,
    seed: int = 0,
    version: VersionOpt = None,
    as_json: JsonOption = False,
) -> None:
    """Replay a labeled version with each active-learning strategy; store the curves."""
    settings: dict[str, Any] = {"text_field": text_field, "initial": initial, "batch": batch}
    settings |= {"rounds": rounds, "seed": seed}
    if strategy:
        settings["strategies"] = strategy
    with connect() as client:
        simulation = client.labeling.simulate(
            dataset, label_field=label_field, version=version, **settings
        )
    if as_json:
        print_json(simulation)
        return
    rows = [
        {"strategy": name, "labels": curve["labels"], "accuracy": curve["accuracy"]}
        for name, curve in simulation.curves.items()
    ]
    print_table(
        rows,
        [("strategy", lambda r: r["strategy"]), ("labels", lambda r: r["labels"][-1]),
         ("first", lambda r: f"{r['accuracy'][0]:.3f}"),
         ("final", lambda r: f"{r['accuracy'][-1]:.3f}"),
         ("best", lambda r: f"{max(r['accuracy']):.3f}")],
        title=f"Learning curves ({simulation.id})",
    )  # fmt: skip


@label_app.command("coverage")
def label_coverage(
    dataset: DatasetArg,
    since: Annotated[datetime | None, typer.Option(help="Traces from (ISO time).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Traces until (ISO time).")] = None,
    target: Annotated[
        str | None, typer.Option(help="Compare with this dataset instead of traces.")
    ] = None,
    slice_key: Annotated[
        list[str] | None, typer.Option("--slice", help="Slice key (repeat).")
    ] = None,
    text_field: Annotated[str, typer.Option(help="Dataset text: inputs key or part.key.")] = "text",
    trace_text_key: Annotated[str | None, typer.Option(help="Root-span inputs key.")] = None,
    clusters: int = 8,
    suggest: int = 20,
    version: VersionOpt = None,
    as_json: JsonOption = False,
) -> None:
    """How representative a dataset is of production traces (or another dataset)."""
    settings: dict[str, Any] = {
        "version": version, "since": since, "until": until, "target_dataset": target,
        "text_field": text_field, "trace_text_key": trace_text_key, "clusters": clusters,
        "suggest": suggest,
    }  # fmt: skip
    if slice_key:
        settings["slices"] = slice_key
    with connect() as client:
        report = client.labeling.coverage(dataset, **settings)
    if as_json:
        print_json(report)
        return
    console.print(
        f"{report.dataset} {report.version} vs {report.target}: coverage score "
        f"[bold]{report.coverage_score:.3f}[/bold] ({report.dataset_items} vs "
        f"{report.target_items} items, {report.embedder})",
        highlight=False,
    )
    for s in report.slices:
        shares = ", ".join(
            f"{v} {t:.0%}/{d:.0%}" for v, t, d in zip(s.values, s.target, s.dataset, strict=True)
        )
        console.print(f"slice {s.key} (target/dataset): {shares}", highlight=False)
        if s.missing:
            console.print(f"[yellow]missing {s.key}: {', '.join(s.missing)}[/yellow]")
    print_table(
        report.suggestions,
        [("id", lambda s: s.id), ("why", lambda s: s.reason), ("text", lambda s: s.text[:70])],
        title="Items to add",
        empty="no gaps found",
    )
