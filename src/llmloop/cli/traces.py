"""``llmloop traces``: list with filters, show a span tree, aggregates, export, traces into
a dataset, retention."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

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


# the trace filters, declared once for every command that selects traces
Name = Annotated[str | None, typer.Option(help="Trace name.")]
Model = Annotated[str | None, typer.Option(help="Model, e.g. gpt-4o-mini.")]
Status = Annotated[str | None, typer.Option(help="ok, error or unset.")]
User = Annotated[str | None, typer.Option(help="User id.")]
Session = Annotated[str | None, typer.Option(help="Session id.")]
Tags = Annotated[list[str] | None, typer.Option("--tag", help="Has this tag (repeatable).")]
Text = Annotated[str | None, typer.Option(help="Substring of an input or output.")]
Since = Annotated[datetime | None, typer.Option(help="Started at or after (UTC).")]
Until = Annotated[datetime | None, typer.Option(help="Started before (UTC).")]
MinCost = Annotated[float | None, typer.Option("--min-cost", help="Cost at least (USD).")]
MaxCost = Annotated[float | None, typer.Option("--max-cost", help="Cost at most (USD).")]
MinMs = Annotated[float | None, typer.Option("--min-ms", help="Duration at least (ms).")]
MaxMs = Annotated[float | None, typer.Option("--max-ms", help="Duration at most (ms).")]


def trace_filters(**given: Any) -> dict[str, Any]:
    """The filters the user gave, under :class:`TraceFilter`'s names (None dropped)."""
    renamed = {"user": "user_id", "session": "session_id", "tag": "tags",
               "min_cost": "min_cost_usd", "max_cost": "max_cost_usd",
               "min_ms": "min_duration_ms", "max_ms": "max_duration_ms"}  # fmt: skip
    found = {renamed.get(k, k): v for k, v in given.items() if v not in (None, [])}
    for bound in ("since", "until"):
        if bound in found:
            found[bound] = _utc(found[bound])
    return found


@traces_app.command("list")
def traces_list(
    name: Name = None,
    model: Model = None,
    status: Status = None,
    user: User = None,
    session: Session = None,
    tag: Tags = None,
    text: Text = None,
    since: Since = None,
    until: Until = None,
    min_cost: MinCost = None,
    max_cost: MaxCost = None,
    min_ms: MinMs = None,
    max_ms: MaxMs = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many (paging).")] = 0,
    as_json: JsonOption = False,
) -> None:
    """List traces, newest first."""
    filters = trace_filters(name=name, model=model, status=status, user=user, session=session,
                            tag=tag, text=text, since=since, until=until, min_cost=min_cost,
                            max_cost=max_cost, min_ms=min_ms, max_ms=max_ms)  # fmt: skip
    with connect() as client:
        try:
            found = client.traces.list(**filters, limit=limit, offset=offset)
        except ValidationError as exc:
            raise fail(f"invalid filter: {_problems(exc)}") from None
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
    name: Name = None,
    model: Model = None,
    status: Status = None,
    user: User = None,
    session: Session = None,
    tag: Tags = None,
    text: Text = None,
    since: Since = None,
    until: Until = None,
    min_cost: MinCost = None,
    max_cost: MaxCost = None,
    min_ms: MinMs = None,
    max_ms: MaxMs = None,
    as_json: JsonOption = False,
) -> None:
    """Write every span of the matching traces to a JSONL or Parquet file."""
    if format not in ("jsonl", "parquet"):
        raise fail(f"unknown format {format!r}: use jsonl or parquet")
    filters = trace_filters(name=name, model=model, status=status, user=user, session=session,
                            tag=tag, text=text, since=since, until=until, min_cost=min_cost,
                            max_cost=max_cost, min_ms=min_ms, max_ms=max_ms)  # fmt: skip
    with connect() as client:
        try:
            chosen: ExportFormat = "parquet" if format == "parquet" else "jsonl"
            count = client.traces.export(output, chosen, **filters)
        except ValidationError as exc:
            raise fail(f"invalid filter: {_problems(exc)}") from None
    if as_json:
        print_json({"spans": count, "path": str(output), "format": chosen})
        return
    console.print(f"wrote {count} spans to {output}", highlight=False)


@traces_app.command("add-to-dataset")
def traces_add_to_dataset(
    dataset: Annotated[str, typer.Argument(help="The dataset to add records to.")],
    trace_ids: Annotated[
        list[str] | None, typer.Argument(help="Trace ids; none: the traces matching the filters.")
    ] = None,
    expectations: Annotated[
        bool, typer.Option("--expectations", help="Copy outputs into expectations.")
    ] = False,
    create: Annotated[
        bool, typer.Option("--create", help="Create the dataset if missing.")
    ] = False,
    message: Annotated[str, typer.Option("--message", "-m", help="Version message.")] = "",
    name: Name = None,
    model: Model = None,
    status: Status = None,
    user: User = None,
    session: Session = None,
    tag: Tags = None,
    text: Text = None,
    since: Since = None,
    until: Until = None,
    min_cost: MinCost = None,
    max_cost: MaxCost = None,
    min_ms: MinMs = None,
    max_ms: MaxMs = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many traces.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Add traces to a dataset as records linked to them (a new dataset version)."""
    filters = trace_filters(name=name, model=model, status=status, user=user, session=session,
                            tag=tag, text=text, since=since, until=until, min_cost=min_cost,
                            max_cost=max_cost, min_ms=min_ms, max_ms=max_ms)  # fmt: skip
    if trace_ids and filters:
        raise fail("give trace ids or filters, not both")
    with connect() as client:
        try:
            selection = {} if trace_ids else {**filters, "limit": limit}
            added = client.traces.add_to_dataset(
                dataset, trace_ids or None, expectations_from_outputs=expectations,
                create=create, message=message, **selection,
            )  # fmt: skip
        except ValidationError as exc:
            raise fail(f"invalid filter: {_problems(exc)}") from None
    if as_json:
        print_json(added)
        return
    v = added.version
    state = "new version" if added.created else "unchanged, version"
    console.print(
        f"added {len(added.added)} trace(s) to {added.dataset.name}: {state} {v.label} "
        f"({v.record_count} records)",
        highlight=False,
    )
    for skipped in added.skipped:
        console.print(f"skipped {skipped.trace_id}: {skipped.reason}", highlight=False)


@traces_app.command("prune")
def traces_prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Delete traces older than this: 30d, 12h, 2w.")
    ],
    project: Annotated[str | None, typer.Option(help="Project (default: LLMLOOP_PROJECT).")] = None,
    batch_size: Annotated[
        int, typer.Option(min=10, max=50_000, help="Traces per batch (one transaction).")
    ] = 1000,
    as_json: JsonOption = False,
) -> None:
    """Retention: delete a project's traces older than a duration (needs an admin key)."""
    with connect(project=project) as client:
        result = client.traces.prune(older_than, batch_size=batch_size)
    if as_json:
        print_json(result)
        return
    console.print(
        f"deleted {result.traces} traces ({result.spans} spans, {result.scores} scores) "
        f"that started before "
        f"{result.before:%Y-%m-%d %H:%M:%S} UTC",
        highlight=False,
    )
