"""``llmloop queues``: annotation queues, answers, agreement, adjudication, golden sets."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from llmloop.annotation import AgreementReport, ItemView, LabelSchema
from llmloop.cli.output import JsonOption, console, print_json, show
from llmloop.errors import ValidationError
from llmloop.sdk.client import Client, connect
from llmloop.store.annotation_types import Item

queues_app = typer.Typer(
    help="Annotation queues: label, agree, adjudicate, promote to golden.", no_args_is_help=True
)

QueueArg = Annotated[str, typer.Argument(help="Queue name.")]
ItemArg = Annotated[str, typer.Argument(help="Item id (itm_…).")]
AnnotatorOpt = Annotated[str | None, typer.Option(help="Who answers; default the API key's name.")]

QUEUE_COLUMNS = [
    ("name", lambda s: s.queue.name),
    ("kind", lambda s: s.queue.label_schema.kind),
    ("items", lambda s: s.progress.items),
    ("done", lambda s: f"{s.progress.done} ({s.progress.percent:.0f}%)"),
    ("pending", lambda s: s.progress.pending),
    ("disputed", lambda s: s.progress.disputed),
    ("promoted", lambda s: s.progress.promoted),
    ("required", lambda s: s.queue.required),
    ("source", lambda s: s.queue.source.get("dataset") or s.queue.source.get("kind")),
]


def _value(client: Client, queue: str, text: str) -> Any:
    """An answer typed on the command line: JSON, or a plain word; a,b for multi-class."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    schema = client.queues.get(queue).queue.label_schema
    if schema.multi and isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if schema.kind != "rating" and isinstance(value, int | float):
        value = text  # a class or text that looks like a number
    return value


def _print_item(view: Item | ItemView) -> None:
    item = view.item if isinstance(view, ItemView) else view
    console.print(
        f"[bold]{item.id}[/bold] ({item.status}) {item.ref.record_id or item.ref.trace_id}"
    )
    for part in ("inputs", "outputs"):
        value = getattr(item.content, part)
        if value:
            console.print(
                f"{part}: {json.dumps(value, ensure_ascii=False)[:2000]}", highlight=False
            )
    if item.hints:
        console.print(f"hints: {json.dumps(item.hints, ensure_ascii=False)}", highlight=False)
    if item.final is not None:
        console.print(f"final: {item.final} (by {item.final_by})", highlight=False)
    if isinstance(view, ItemView):
        for a in view.annotations:
            console.print(f"  {a.annotator}: {a.value if a.status == 'submitted' else 'skipped'}")


@queues_app.command("list")
def queues_list(as_json: JsonOption = False) -> None:
    """List queues with their progress."""
    with connect() as client:
        summaries = client.queues.list()
    show(summaries, as_json, QUEUE_COLUMNS, title="Annotation queues",
         empty="no queues yet; create one with `llmloop queues create`")  # fmt: skip


@queues_app.command("create")
def queues_create(
    name: QueueArg,
    dataset: Annotated[str | None, typer.Option(help="Queue this dataset's records.")] = None,
    version: Annotated[str | None, typer.Option(help="Alias, number (v2) or id.")] = None,
    record_id: Annotated[list[str] | None, typer.Option(help="Only these records.")] = None,
    trace_id: Annotated[list[str] | None, typer.Option(help="Queue traces instead.")] = None,
    kind: Annotated[str, typer.Option(help="classes, text, rating or correction.")] = "classes",
    classes: Annotated[str | None, typer.Option(help="Comma-separated classes.")] = None,
    multi: Annotated[bool, typer.Option(help="Several classes per item.")] = False,
    scale: Annotated[int, typer.Option(help="Ratings run 1..scale.")] = 5,
    field: Annotated[str, typer.Option(help="Expectations key of the final label.")] = "",
    required: Annotated[int, typer.Option(help="Annotators per item.")] = 1,
    instructions: Annotated[str, typer.Option(help="Shown to annotators.")] = "",
    description: str = "",
    as_json: JsonOption = False,
) -> None:
    """Create a queue of a dataset version's records or of traces."""
    schema = LabelSchema.model_validate(
        {
            "kind": kind,
            "classes": [c.strip() for c in (classes or "").split(",") if c.strip()],
            "multi": multi,
            "scale": scale,
            "field": field,
            "instructions": instructions,
        }
    )
    with connect() as client:
        summary = client.queues.create(
            name, schema, dataset=dataset, version=version, record_ids=record_id,
            trace_ids=trace_id, required=required, description=description,
        )  # fmt: skip
    show(summary, as_json, QUEUE_COLUMNS, title="Created")


@queues_app.command("show")
def queues_show(name: QueueArg, as_json: JsonOption = False) -> None:
    """A queue's progress, annotators and agreement."""
    with connect() as client:
        summary = client.queues.get(name)
        report = client.queues.agreement(name)
    if as_json:
        print_json({"summary": summary, "agreement": report})
        return
    show(summary, False, QUEUE_COLUMNS, title=summary.queue.description or summary.queue.name)
    console.print(f"annotators: {', '.join(summary.annotators) or '-'}")
    _print_agreement(report)


@queues_app.command("items")
def queues_items(
    name: QueueArg,
    status: Annotated[str | None, typer.Option(help="pending, disputed, resolved, …")] = None,
    limit: int = 50,
    as_json: JsonOption = False,
) -> None:
    """Items of a queue with their answers."""
    with connect() as client:
        page = client.queues.items(name, status=status, limit=limit)
    show(page.items, as_json, [
        ("item", lambda v: v.item.id),
        ("record", lambda v: v.item.ref.record_id or v.item.ref.trace_id),
        ("status", lambda v: v.item.status),
        ("answers", lambda v: "; ".join(f"{a.annotator}={a.value}" for a in v.annotations)),
        ("final", lambda v: v.item.final),
    ], title=f"{page.total} item(s)")  # fmt: skip


@queues_app.command("assign")
def queues_assign(
    name: QueueArg,
    annotators: Annotated[list[str], typer.Argument(help="Annotator names.")],
    item: Annotated[list[str] | None, typer.Option(help="Only these items.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Assign items (default: every unsettled one) to annotators."""
    with connect() as client:
        outcome = client.queues.assign(name, annotators, item)
    show(outcome, as_json, [("assigned", lambda o: o.assigned), ("items", lambda o: o.items),
                            ("annotators", lambda o: ", ".join(o.annotators))])  # fmt: skip


@queues_app.command("next")
def queues_next(
    name: QueueArg, annotator: AnnotatorOpt = None, as_json: JsonOption = False
) -> None:
    """The annotator's next item (claimed for them)."""
    with connect() as client:
        item = client.queues.next(name, annotator)
    if as_json:
        print_json(item)
    elif item is None:
        console.print("[dim]nothing left for you in this queue[/dim]")
    else:
        _print_item(item)


@queues_app.command("submit")
def queues_submit(
    name: QueueArg,
    item: ItemArg,
    value: Annotated[str, typer.Argument(help="The answer: a class (a,b for multi), text, 1..N.")],
    annotator: AnnotatorOpt = None,
    comment: str | None = None,
    as_json: JsonOption = False,
) -> None:
    """Answer an item."""
    with connect() as client:
        view = client.queues.submit(
            name, item, _value(client, name, value), annotator=annotator, comment=comment
        )
    print_json(view) if as_json else _print_item(view)


@queues_app.command("skip")
def queues_skip(
    name: QueueArg, item: ItemArg, annotator: AnnotatorOpt = None, as_json: JsonOption = False
) -> None:
    """Skip an item; it goes to another annotator."""
    with connect() as client:
        view = client.queues.skip(name, item, annotator=annotator)
    print_json(view) if as_json else _print_item(view)


@queues_app.command("agreement")
def queues_agreement(name: QueueArg, as_json: JsonOption = False) -> None:
    """Percent agreement, Cohen's kappa per pair, Krippendorff's alpha, per annotator."""
    with connect() as client:
        report = client.queues.agreement(name)
    print_json(report) if as_json else _print_agreement(report)


def _print_agreement(report: AgreementReport) -> None:
    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    console.print(
        f"{report.items_compared} item(s) with 2+ answers · percent agreement "
        f"{fmt(report.percent_agreement)} · pairwise {fmt(report.pairwise_agreement)} · "
        f"Krippendorff's alpha ({report.level}) {fmt(report.alpha)} · "
        f"mean Cohen's kappa {fmt(report.kappa_mean)}",
        highlight=False,
    )
    show(report.pairs, False, [("a", lambda p: p.a), ("b", lambda p: p.b),
         ("items", lambda p: p.items), ("agreement", lambda p: fmt(p.percent)),
         ("kappa", lambda p: fmt(p.kappa))], title="Pairs", empty="no pairs yet")  # fmt: skip
    show(report.annotators, False, [("annotator", lambda s: s.annotator),
         ("answered", lambda s: s.answered),
         ("agrees with others", lambda s: fmt(s.agreement_with_others)),
         ("agrees with final", lambda s: fmt(s.agreement_with_final))],
         title="Annotators", empty="no answers yet")  # fmt: skip
    for note in report.notes:
        console.print(f"[dim]{note}[/dim]")


@queues_app.command("adjudicate")
def queues_adjudicate(
    name: QueueArg,
    item: ItemArg,
    value: Annotated[str, typer.Argument(help="The final label.")],
    reason: str | None = None,
    as_json: JsonOption = False,
) -> None:
    """Decide an item's final label (audited)."""
    with connect() as client:
        view = client.queues.adjudicate(name, item, _value(client, name, value), reason=reason)
    print_json(view) if as_json else _print_item(view)


@queues_app.command("promote")
def queues_promote(
    name: QueueArg,
    dataset: Annotated[str | None, typer.Option(help="Default: the queue's dataset.")] = None,
    message: str = "",
    as_json: JsonOption = False,
) -> None:
    """Write settled items into the dataset's golden alias (a new version, audited)."""
    with connect() as client:
        outcome = client.queues.promote(name, dataset=dataset, message=message)
    if as_json:
        print_json(outcome)
        return
    version = outcome.commit.version
    console.print(
        f"golden -> {outcome.commit.dataset.name} {version.label} ({version.id}): "
        f"{version.record_count} record(s), {outcome.promoted} from this queue"
        + ("" if outcome.commit.created else " (unchanged)"),
        highlight=False,
    )


@queues_app.command("label-errors")
def queues_label_errors(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    version: Annotated[str | None, typer.Option(help="Alias, number or id.")] = None,
    field: Annotated[str, typer.Option(help="Expectations key holding the label.")] = "label",
    text_field: Annotated[str | None, typer.Option(help="Input key of the text.")] = None,
    folds: int = 5,
    queue: Annotated[str | None, typer.Option(help="Send the flags to this new queue.")] = None,
    limit: Annotated[int | None, typer.Option(help="Keep the most likely only.")] = None,
    required: int = 1,
    as_json: JsonOption = False,
) -> None:
    """Flag likely mislabeled records (confident learning on out-of-fold probabilities)."""
    if folds < 2:
        raise ValidationError("--folds must be at least 2")
    with connect() as client:
        report = client.queues.label_errors(
            dataset, version=version, field=field, text_field=text_field, folds=folds,
            queue=queue, limit=limit, required=required,
        )  # fmt: skip
    if as_json:
        print_json(report)
        return
    console.print(
        f"{len(report.flagged)} likely label error(s) among {report.records} records "
        f"({report.folds}-fold, {report.seconds:.1f} s)",
        highlight=False,
    )
    show(report.flagged, False, [("record", lambda i: i.record_id), ("given", lambda i: i.given),
         ("suggested", lambda i: i.suggested), ("p(given)", lambda i: f"{i.quality:.3f}")],
         title="Flagged")  # fmt: skip
    if report.queue is not None:
        console.print(f"review queue: {report.queue.queue.name}", highlight=False)
