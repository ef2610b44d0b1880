"""``llmloop suites``: robustness, fairness, bias and calibration suites against a model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from llmloop.cli.evaluations import _read_records, _scorer
from llmloop.cli.output import JsonOption, console, print_json, print_table, show
from llmloop.evaluation.suites.report import SuiteReport
from llmloop.sdk.client import connect

suites_app = typer.Typer(
    help="Evaluation suites: robustness, fairness, BBQ, CrowS-Pairs, calibration.",
    no_args_is_help=True,
)

RecordsOption = Annotated[
    Path, typer.Option("--records", "-r", help="JSON Lines or JSON array of records.")
]
ItemsOption = Annotated[
    Path, typer.Option("--items", "-i", help="JSON Lines or JSON array of benchmark items.")
]
ScorersOption = Annotated[
    list[str], typer.Option("--scorer", "-s", help="Scorer kind, or kind:{json config}.")
]
PromptOption = Annotated[str | None, typer.Option(help="User-message template, e.g. '{question}'.")]
NameOption = Annotated[str | None, typer.Option(help="Run name.")]
ConcurrencyOption = Annotated[int, typer.Option(min=1, max=256)]
SeedOption = Annotated[int, typer.Option(help="Seed of perturbations and resampling.")]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _cell(index: int) -> Callable[[list[Any]], str]:
    return lambda row: _fmt(row[index])


def print_report(report: SuiteReport) -> None:
    console.print(
        f"[bold]{report.name}[/bold]  {report.kind}  run {report.run_id}", highlight=False
    )
    print_table(
        [(k, v) for k, v in report.metrics.items() if "[" not in k] or report.metrics.items(),
        [
            ("metric", lambda r: r[0]),
            ("value", lambda r: _fmt(r[1].value)),
            ("95% CI", lambda r: f"[{_fmt(r[1].low)}, {_fmt(r[1].high)}]"),
            ("n", lambda r: r[1].n),
        ],
        title="Headline metrics",
        empty="no metrics",
    )
    for table in report.tables:
        print_table(
            table.rows,
            [(c, _cell(i)) for i, c in enumerate(table.columns)],
            title=table.title,
            empty="no rows",
        )
    eff = report.efficiency
    console.print(
        f"efficiency: {eff.calls} calls for {eff.source_records} records, {eff.errors} errored; "
        f"latency mean {_fmt(eff.latency_ms_mean)} ms, p95 {_fmt(eff.latency_ms_p95)} ms; "
        f"{eff.prompt_tokens + eff.completion_tokens} tokens "
        f"({_fmt(eff.tokens_per_record)} per record); cost ${eff.cost_usd:.6f} "
        f"(${_fmt(eff.cost_per_record_usd)} per record)",
        highlight=False,
    )
    for note in report.notes:
        console.print(f"[dim]note: {note}[/dim]", highlight=False)
    for example in report.examples[:5]:
        console.print(
            f"[dim]flip ({example['variant']}): {example['clean_output']!r} -> "
            f"{example['variant_output']!r} for {example['variant_input']!r}[/dim]",
            highlight=False,
        )


def _done(report: SuiteReport, as_json: bool) -> None:
    print_json(report) if as_json else print_report(report)


def _common(prompt: str | None, name: str | None, concurrency: int, seed: int) -> dict[str, Any]:
    return {"prompt": prompt, "name": name, "concurrency": concurrency, "seed": seed}


@suites_app.command("robustness")
def robustness(
    target: Annotated[str, typer.Argument(help="Model reference.")],
    records: RecordsOption,
    scorers: ScorersOption,
    field: Annotated[str | None, typer.Option(help="Input field to perturb.")] = None,
    perturbation: Annotated[
        list[str] | None,
        typer.Option(
            "--perturbation",
            "-p",
            help="typo, casing, whitespace, punctuation, "
            "contraction, synonym, distractor, injection (default: all).",
        ),
    ] = None,
    prompt: PromptOption = None,
    name: NameOption = None,
    concurrency: ConcurrencyOption = 16,
    seed: SeedOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Run a model on records clean and perturbed; consistency and score deltas."""
    options = _common(prompt, name, concurrency, seed) | {"field": field}
    if perturbation:
        options["perturbations"] = perturbation
    with connect() as client:
        report = client.suites.robustness(
            target, _read_records(records), [_scorer(s) for s in scorers], **options
        )
    _done(report, as_json)


@suites_app.command("fairness")
def fairness(
    target: Annotated[str, typer.Argument(help="Model reference.")],
    records: RecordsOption,
    scorers: ScorersOption,
    group_by: Annotated[
        list[str] | None, typer.Option("--group-by", "-g", help="Metadata key to group by.")
    ] = None,
    probe: Annotated[
        list[str] | None, typer.Option("--probe", help="Counterfactual: names, gender, dialect.")
    ] = None,
    field: Annotated[str | None, typer.Option(help="Input field the probes rewrite.")] = None,
    prompt: PromptOption = None,
    name: NameOption = None,
    concurrency: ConcurrencyOption = 16,
    seed: SeedOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Scores per group, worst group, gaps; counterfactual answer changes."""
    options = _common(prompt, name, concurrency, seed) | {
        "group_by": group_by or [],
        "probes": probe or [],
        "field": field,
    }
    with connect() as client:
        report = client.suites.fairness(
            target, _read_records(records), [_scorer(s) for s in scorers], **options
        )
    _done(report, as_json)


@suites_app.command("calibration")
def calibration(
    target: Annotated[str, typer.Argument(help="Model reference.")],
    records: RecordsOption,
    scorers: ScorersOption,
    confidence_field: Annotated[
        str, typer.Option(help="Output field holding the confidence in [0, 1].")
    ] = "probability",
    bins: Annotated[int, typer.Option(min=1, max=100)] = 10,
    prompt: PromptOption = None,
    name: NameOption = None,
    concurrency: ConcurrencyOption = 16,
    seed: SeedOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Expected calibration error, Brier score and reliability bins."""
    options = _common(prompt, name, concurrency, seed) | {
        "confidence_field": confidence_field,
        "bins": bins,
    }
    with connect() as client:
        report = client.suites.calibration(
            target, _read_records(records), [_scorer(s) for s in scorers], **options
        )
    _done(report, as_json)


@suites_app.command("bbq")
def bbq(
    target: Annotated[str, typer.Argument(help="Model reference.")],
    items: ItemsOption,
    name: NameOption = None,
    concurrency: ConcurrencyOption = 16,
    seed: SeedOption = 0,
    as_json: JsonOption = False,
) -> None:
    """BBQ-style bias benchmark: accuracy and bias score per condition."""
    with connect() as client:
        report = client.suites.bbq(
            target, _read_records(items), name=name, concurrency=concurrency, seed=seed
        )
    _done(report, as_json)


@suites_app.command("crows-pairs")
def crows_pairs(
    target: Annotated[str, typer.Argument(help="Model reference.")],
    items: ItemsOption,
    name: NameOption = None,
    concurrency: ConcurrencyOption = 16,
    seed: SeedOption = 0,
    as_json: JsonOption = False,
) -> None:
    """CrowS-Pairs-style benchmark by choice (both orders): the stereotype score."""
    with connect() as client:
        report = client.suites.crows_pairs(
            target, _read_records(items), name=name, concurrency=concurrency, seed=seed
        )
    _done(report, as_json)


@suites_app.command("show")
def show_report(run_id: str, as_json: JsonOption = False) -> None:
    """Show a suite run's report."""
    with connect() as client:
        report = client.suites.get(run_id)
    _done(report, as_json)


@suites_app.command("list")
def list_reports(as_json: JsonOption = False) -> None:
    """Suite runs, newest first."""
    with connect() as client:
        reports = client.suites.list()
    show(
        reports,
        as_json,
        [
            ("run", lambda r: r.run_id),
            ("kind", lambda r: r.kind),
            ("name", lambda r: r.name),
            ("records", lambda r: r.efficiency.source_records),
            (
                "headline",
                lambda r: json.dumps({k: _fmt(v.value) for k, v in list(r.metrics.items())[:2]}),
            ),
        ],
        title="Suite runs",
        empty="no suite runs yet",
    )
