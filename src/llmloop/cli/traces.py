"""``llmloop traces``: list traces with filters, show one trace's span tree, aggregates."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.tree import Tree

from llmloop.cli.output import JsonOption, console, fail, print_json, show
from llmloop.sdk.client import connect
from llmloop.sdk.traces import ExportFormat
from llmloop.store.traces_types import SpanNode

traces_app = typer.Typer(help="Traces of LLM calls and the spans in them.", no_args_is_help=True)


def _cost(value: float | None) -> str:
    return "-" if value is None else f"${value:.6f}"


@traces_app.command("list")
def traces_list(
    name: Annotated[str | None, typer.Option(help="Trace name.")] = None,
    model: Annotated[str | None, typer.Option(help="Model, e.g. gpt-4o-mini.")] = None,
    status: Annotated[str | None, typer.Option(help="ok, error or unset.")] = None,
    user: Annotated[str | None, typer.Option(help="User id.")] = None,
    session: Annotated[str | None, typer.Option(help="Session id.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Has this tag (repeatable).")] = None,
    text: Annotated[str | None, typer.Option(help="Substring of an input or output.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Started at or after (UTC).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List traces, newest first."""
    when = _utc(since)
    filters = {"name": name, "model": model, "status": status, "user_id": user,
               "session_id": session, "tags": tag or [], "text": text, "limit": limit,
               "since": when}  # fmt: skip
    with connect() as client:
        found = client.traces.list(**{k: v for k, v in filters.items() if v is not None})
    show(
        found,
        as_json,
        [
            ("trace", lambda t: t.trace_id),
            ("name", lambda t: t.name),
            ("start", lambda t: t.start_time),
            ("ms", lambda t: f"{t.duration_ms:.0f}"),
            ("status", lambda t: t.status),
            ("model", lambda t: t.model),
            ("spans", lambda t: t.span_count),
            ("tokens", lambda t: t.total_tokens),
            ("cost", lambda t: _cost(t.cost_usd)),
        ],
        title="Traces",
        empty="no traces match",
    )


def _add(tree: Tree, node: SpanNode) -> None:
    s = node.span
    label = f"[bold]{s.name}[/bold] [dim]{s.kind} · {s.duration_ms:.1f} ms · {s.status}"
    if s.model:
        label += f" · {s.model} {s.input_tokens}+{s.output_tokens} tok"
    branch = tree.add(label + "[/dim]")
    for child in node.children:
        _add(branch, child)


@traces_app.command("show")
def traces_show(
    trace_id: Annotated[str, typer.Argument(help="The trace id (32 hex characters).")],
    as_json: JsonOption = False,
) -> None:
    """Show a trace: its summary, span tree and scores."""
    with connect() as client:
        detail = client.traces.get(trace_id)
    if as_json:
        print_json(detail)
        return
    t = detail.trace
    tree = Tree(
        f"[bold]{t.name}[/bold] {t.trace_id} · {t.duration_ms:.0f} ms · {_cost(t.cost_usd)}"
    )
    for node in detail.spans:
        _add(tree, node)
    console.print(tree)
    for score in detail.scores:
        console.print(f"score {score.name} = {score.value!r} ({score.source})", highlight=False)


def _utc(value: datetime | None) -> str | None:
    return value.replace(tzinfo=value.tzinfo or UTC).isoformat() if value else None


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def _ms(value: float) -> str:
    return f"{value:.1f}"


@traces_app.command("stats")
def traces_stats(
    bucket: Annotated[str, typer.Option(help="minute, hour or day.")] = "hour",
    group_by: Annotated[str | None, typer.Option(help="model, name or tag.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Started at or after (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Started before (UTC).")] = None,
    name: Annotated[str | None, typer.Option(help="Trace name.")] = None,
    model: Annotated[str | None, typer.Option(help="Model, e.g. gpt-4o-mini.")] = None,
    status: Annotated[str | None, typer.Option(help="ok, error or unset.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Has this tag (repeatable).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Traces per time bucket: count, tokens, cost, p50/p95 latency and error rate."""
    query = {"bucket": bucket, "group_by": group_by, "since": _utc(since), "until": _utc(until),
             "name": name, "model": model, "status": status, "tags": tag or []}  # fmt: skip
    with connect() as client:
        try:
            rows = client.traces.stats(**{k: v for k, v in query.items() if v is not None})
        except ValidationError as exc:
            raise fail(f"invalid query: {_problems(exc)}") from None
    show(
        rows,
        as_json,
        [
            ("bucket", lambda r: r.bucket_start),
            ("group", lambda r: r.group),
            ("traces", lambda r: r.count),
            ("errors", lambda r: f"{r.error_rate:.1%}"),
            ("tokens", lambda r: r.total_tokens),
            ("cost", lambda r: _cost(r.cost_usd)),
            ("p50 ms", lambda r: _ms(r.p50_latency_ms)),
            ("p95 ms", lambda r: _ms(r.p95_latency_ms)),
        ],
        title=f"Traces per {bucket}",
        empty="no traces in range",
    )


@traces_app.command("export")
def traces_export(
    output: Annotated[Path, typer.Argument(help="File to write, e.g. spans.jsonl.")],
    format: Annotated[str, typer.Option("--format", help="jsonl or parquet.")] = "jsonl",
    name: Annotated[str | None, typer.Option(help="Trace name.")] = None,
    model: Annotated[str | None, typer.Option(help="Model, e.g. gpt-4o-mini.")] = None,
    status: Annotated[str | None, typer.Option(help="ok, error or unset.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Has this tag (repeatable).")] = None,
    since: Annotated[datetime | None, typer.Option(help="Started at or after (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Started before (UTC).")] = None,
) -> None:
    """Write every span of the matching traces to a JSONL or Parquet file."""
    if format not in ("jsonl", "parquet"):
        raise fail(f"unknown format {format!r}: use jsonl or parquet")
    filters = {"name": name, "model": model, "status": status, "tags": tag or [],
               "since": _utc(since), "until": _utc(until)}  # fmt: skip
    with connect() as client:
        try:
            chosen: ExportFormat = "parquet" if format == "parquet" else "jsonl"
            count = client.traces.export(
                output, chosen, **{k: v for k, v in filters.items() if v is not None}
            )
        except ValidationError as exc:
            raise fail(f"invalid filter: {_problems(exc)}") from None
    console.print(f"wrote {count} spans to {output}", highlight=False)
