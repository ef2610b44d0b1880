"""``llmloop eval experiment``: run a prompts x models x parameters matrix, show it."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from llmloop.cli.output import JsonOption, console, fail, print_json, print_table
from llmloop.errors import ValidationError
from llmloop.evaluation.experiments import ExperimentReport
from llmloop.sdk.client import Client, connect

experiment_app = typer.Typer(
    help="Experiments: a matrix of prompts x models x parameters over one dataset version.",
    no_args_is_help=True,
)


def _prompt(text: str) -> tuple[str, str]:
    label, sep, template = text.partition("=")
    if not sep or not label.strip():
        raise typer.BadParameter(f"{text!r}: write LABEL=TEMPLATE, e.g. short='{{{{ question }}}}'")
    return label.strip(), template


def _param(text: str) -> tuple[str, list[Any]]:
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise typer.BadParameter(f"{text!r}: write NAME=V1,V2, e.g. temperature=0,0.7")
    out: list[Any] = []
    for raw in values.split(","):
        try:
            out.append(json.loads(raw))
        except json.JSONDecodeError:
            out.append(raw)
    return name.strip(), out


def _scorer(text: str) -> str | dict[str, Any]:
    kind, sep, config = text.partition(":")
    if not sep:
        return kind
    try:
        return {"kind": kind, "config": json.loads(config)}
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"scorer {text!r}: the config after ':' is not JSON ({exc})"
        ) from None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def print_report(result: ExperimentReport) -> None:
    exp = result.experiment
    console.print(
        f"[bold]{exp.name}[/bold]  {exp.id}  {exp.status}  on {exp.dataset_ref}"
        + (f" = {exp.dataset_version}" if exp.dataset_version else ""),
        highlight=False,
    )
    metrics = result.metrics

    def cell_value(metric: str) -> Any:
        def get(cell: Any) -> str:
            agg = cell.aggregates.get(metric)
            if agg is None:
                return "-"
            mark = " *" if result.best.get(metric) == cell.key else ""
            delta = cell.versus_baseline.get(metric)
            extra = f" ({delta.delta:+.3g}, p={delta.p_value:.2g})" if delta and delta.delta else ""
            return f"{_fmt(agg.value)} [{_fmt(agg.low)}, {_fmt(agg.high)}]{extra}{mark}"

        return get

    number = {cell.key: f"#{i}" for i, cell in enumerate(result.cells, start=1)}
    for cell in result.cells:
        base = " (baseline)" if cell.key == result.baseline else ""
        console.print(f"{number[cell.key]} = {cell.key}{base}", highlight=False, soft_wrap=True)
    print_table(
        result.cells,
        [("cell", lambda c: number[c.key]), ("status", lambda c: c.status)]
        + [(m, cell_value(m)) for m in metrics],
        title="value [95% CI] (delta vs baseline, p); * best",
    )


@experiment_app.command("run")
def experiment_run(
    dataset: Annotated[str, typer.Argument(help="Dataset: name or name@alias|vN|id.")],
    models: Annotated[list[str], typer.Option("--model", "-m", help="Model (repeat).")],
    scorers: Annotated[list[str], typer.Option("--scorer", "-s", help="Scorer kind (repeat).")],
    prompts: Annotated[
        list[str] | None,
        typer.Option("--prompt", "-p", help="LABEL=Jinja2 template or LABEL=prompt:name@ref."),
    ] = None,
    params: Annotated[
        list[str] | None, typer.Option("--param", help="NAME=V1,V2 (a grid axis).")
    ] = None,
    system: Annotated[str | None, typer.Option(help="System message for inline prompts.")] = None,
    name: Annotated[str | None, typer.Option(help="Experiment name.")] = None,
    baseline: Annotated[str | None, typer.Option(help="Key of the baseline cell.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=256)] = 16,
    as_json: JsonOption = False,
) -> None:
    """Run every cell of the matrix, then print it side by side."""
    options = {
        "prompts": dict(_prompt(p) for p in prompts) if prompts else None,
        "params": dict(_param(p) for p in params) if params else None,
        "system": system,
        "name": name,
        "baseline": baseline,
        "concurrency": concurrency,
        "background": True,
    }
    with connect() as client:
        exp = client.experiments.run(dataset, models, [_scorer(s) for s in scorers], **options)
        exp = _follow(client, exp.id, len(exp.cells), bar=not as_json)
        result = client.experiments.report(exp.id)
    print_json(result) if as_json else print_report(result)
    if exp.status != "finished":
        raise fail(f"experiment {exp.id} {exp.status}: {exp.error}")


def _follow(client: Client, experiment_id: str, cells: int, *, bar: bool) -> Any:
    try:
        if not bar:
            return client.experiments.wait(experiment_id)
        with console.status(f"running {cells} cells …"):
            return client.experiments.wait(experiment_id)
    except KeyboardInterrupt:
        client.experiments.cancel(experiment_id)
        raise fail(f"experiment {experiment_id} interrupted", 130) from None


@experiment_app.command("show")
def experiment_show(
    experiment_id: str,
    baseline: Annotated[str | None, typer.Option(help="Key of the baseline cell.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show an experiment side by side: aggregates, best cells, deltas vs the baseline."""
    with connect() as client:
        result = client.experiments.report(experiment_id, baseline=baseline)
    print_json(result) if as_json else print_report(result)
