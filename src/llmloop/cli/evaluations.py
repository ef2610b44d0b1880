"""``llmloop eval``: run (or resume) an evaluation with a progress bar, show a run,
compare two, gate on rules; ``llmloop eval experiment`` runs matrices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from llmloop.cli.experiments import experiment_app
from llmloop.cli.output import JsonOption, console, fail, print_json, print_table, show
from llmloop.errors import ValidationError
from llmloop.evaluation.gate import GateReport, GateRuleError, parse_rules
from llmloop.sdk.client import Client, connect
from llmloop.store.evaluations import EvalRun

eval_app = typer.Typer(help="Evaluation runs, comparisons and CI gates.", no_args_is_help=True)
eval_app.add_typer(experiment_app, name="experiment")


def _read_records(path: Path) -> list[dict[str, Any]]:
    """Records from a JSON Lines file (one record object per line) or a JSON array."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValidationError(f"cannot read records file {str(path)!r}: {exc}") from None
    try:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"records file {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise ValidationError(f"records file {str(path)!r} must hold a JSON array of records")
    return data


def _scorer(text: str) -> str | dict[str, Any]:
    """``exact_match`` or ``kind:{"json": "config"}`` or a JSON spec."""
    if text.lstrip().startswith("{"):
        parsed: dict[str, Any] = json.loads(text)
        return parsed
    kind, sep, config = text.partition(":")
    if not sep:
        return kind
    try:
        return {"kind": kind, "config": json.loads(config)}
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"scorer {text!r}: the config after ':' is not JSON ({exc})"
        ) from None


def _aggregates(run: EvalRun) -> list[tuple[str, Any]]:
    return [(name, a) for name, a in sorted(run.aggregates.items()) if "[" not in name]


def _print_run(run: EvalRun) -> None:
    console.print(
        f"[bold]{run.name}[/bold]  {run.id}  {run.status}  "
        f"{run.n_done}/{run.n_records} records, {run.n_errors} errored",
        highlight=False,
    )
    if run.dataset_version:
        console.print(f"dataset {run.dataset_ref} = {run.dataset_version}", highlight=False)
    print_table(
        _aggregates(run),
        [
            ("metric", lambda r: r[0]),
            ("value", lambda r: _fmt(r[1].value)),
            ("95% CI", lambda r: f"[{_fmt(r[1].low)}, {_fmt(r[1].high)}]"),
            ("n", lambda r: r[1].n),
        ],
        empty="no aggregates",
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def follow(client: Client, run: EvalRun, *, bar: bool) -> EvalRun:
    """Wait for a background run, drawing a progress bar; Ctrl-C stops the run, which
    can then be resumed."""
    try:
        if not bar:
            return client.evaluations.wait(run.id)
        columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn())
        with Progress(*columns, TimeRemainingColumn(), console=console, transient=True) as p:
            task = p.add_task(run.name[:40], total=run.n_records, completed=run.n_done)
            return client.evaluations.wait(
                run.id, on_progress=lambda r: p.update(task, completed=r.n_done)
            )
    except KeyboardInterrupt:
        client.evaluations.cancel(run.id)
        raise fail(
            f"run {run.id} interrupted; resume it with: llmloop eval run --resume {run.id}",
            130,
        ) from None


@eval_app.command("run")
def eval_run(
    target: Annotated[
        str | None,
        typer.Argument(help="Model reference, or 'outputs' to score the records' own outputs."),
    ] = None,
    records: Annotated[
        Path | None, typer.Option("--records", "-r", help="JSON Lines or JSON array of records.")
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", "-d", help="A stored dataset: name or name@alias|vN|id."),
    ] = None,
    scorers: Annotated[
        list[str] | None,
        typer.Option("--scorer", "-s", help="Scorer kind, or kind:{json config}."),
    ] = None,
    prompt: Annotated[
        str | None, typer.Option(help="User-message template, e.g. '{question}'.")
    ] = None,
    jinja: Annotated[
        bool, typer.Option("--jinja", help="The prompt is a Jinja2 template ({{ question }}).")
    ] = False,
    name: Annotated[str | None, typer.Option(help="Run name.")] = None,
    dataset_ref: Annotated[
        str | None, typer.Option(help="Label of where the records come from.")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=256)] = 16,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not reuse cached model answers.")
    ] = False,
    resume: Annotated[
        str | None,
        typer.Option("--resume", help="Finish this interrupted run, skipping scored records."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate a model on records or a dataset and store the run (progress bar; Ctrl-C
    stops it and --resume finishes it later)."""
    inline = _read_records(records) if records is not None else None
    with connect() as client:
        if resume is not None:
            run = client.evaluations.resume(resume, records=inline, background=True)
        else:
            if target is None or not scorers or (inline is None) == (dataset is None):
                raise typer.BadParameter(
                    "give a TARGET, at least one --scorer, and --records or --dataset "
                    "(or --resume RUN_ID)"
                )
            options = {
                "prompt": prompt,
                "template": "jinja" if jinja else None,
                "name": name,
                "dataset_ref": dataset_ref,
                "concurrency": concurrency,
                "cache": not no_cache,
                "background": True,
            }
            run = client.evaluations.run(
                None if target == "outputs" else target,
                inline if inline is not None else str(dataset),
                [_scorer(s) for s in scorers],
                **options,
            )
        run = follow(client, run, bar=not as_json)
    print_json(run) if as_json else _print_run(run)
    if run.status != "finished":
        raise fail(f"run {run.id} {run.status}: {run.error}")


@eval_app.command("list")
def eval_list(as_json: JsonOption = False) -> None:
    """List evaluation runs, newest first."""
    with connect() as client:
        runs = client.evaluations.list()
    show(
        runs,
        as_json,
        [
            ("id", lambda r: r.id),
            ("name", lambda r: r.name),
            ("status", lambda r: r.status),
            ("records", lambda r: r.n_records),
            ("errors", lambda r: r.n_errors),
            ("created", lambda r: r.created_at),
        ],
        title="Evaluation runs",
        empty="no evaluation runs yet",
    )


@eval_app.command("show")
def eval_show(run_id: str, as_json: JsonOption = False) -> None:
    """Show a run's aggregates with 95% intervals."""
    with connect() as client:
        run = client.evaluations.get(run_id)
    print_json(run) if as_json else _print_run(run)


@eval_app.command("compare")
def eval_compare(
    baseline: Annotated[str, typer.Argument(help="Baseline run id.")],
    candidate: Annotated[str, typer.Argument(help="Candidate run id.")],
    as_json: JsonOption = False,
) -> None:
    """Paired comparison of two runs on their shared records."""
    with connect() as client:
        result = client.evaluations.compare(baseline, candidate)
    if as_json:
        print_json(result)
        return
    print_table(
        [m for k, m in sorted(result.metrics.items()) if "[" not in k],
        [
            ("metric", lambda m: m.name),
            ("baseline", lambda m: _fmt(m.baseline)),
            ("candidate", lambda m: _fmt(m.candidate)),
            ("delta", lambda m: _fmt(m.delta)),
            ("95% CI", lambda m: f"[{_fmt(m.low)}, {_fmt(m.high)}]"),
            ("p", lambda m: f"{m.p_value:.3g}"),
            ("test", lambda m: m.test),
        ],
        title=f"{candidate} vs {baseline}",
    )
    console.print(
        f"{result.n_paired} paired records; {len(result.regressed)} record scores regressed",
        highlight=False,
    )


def _print_gate(report: GateReport) -> None:
    for check in report.checks:
        mark = "[green]PASS[/green]" if check.passed else "[red]FAIL[/red]"
        console.print(f"{mark} {check.rule}: {check.message}", highlight=False)
    verdict = "[green]gate passed[/green]" if report.passed else "[bold red]gate failed[/bold red]"
    console.print(verdict)


@eval_app.command("gate")
def eval_gate(
    run_id: Annotated[str, typer.Argument(help="The run to check.")],
    rules: Annotated[
        list[str] | None,
        typer.Option("--rule", help="e.g. 'accuracy>=0.9', 'delta(f1)>=-0.01'."),
    ] = None,
    baseline: Annotated[str | None, typer.Option(help="Baseline run for delta rules.")] = None,
    require_golden: Annotated[
        bool,
        typer.Option(
            "--require-golden", help="Fail unless the run was on its dataset's golden version."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check rules against a run; exit 1 when any fails, 2 on an invalid rule."""
    rules = rules or []
    try:
        parse_rules(rules, allow_none=require_golden)
    except GateRuleError as exc:
        raise typer.BadParameter(exc.message, param_hint="--rule") from None
    with connect() as client:
        report = client.evaluations.gate(
            run_id, rules, baseline=baseline, require_golden=require_golden
        )
    print_json(report) if as_json else _print_gate(report)
    if not report.passed:
        raise typer.Exit(1)
