"""``llmloop demo``: the offline story, told with the numbers it measured, then the server.

The story runs in the project ``demo`` of the configured data dir. Re-running reuses the
saved ``ticket-assistant`` version trained on the same tickets (same ``--seed`` and
``--tickets``) instead of training a copy; other data makes a new version. Every figure
is measured again on each run.
"""

from __future__ import annotations

import contextlib
import enum
import sys
import time
from collections.abc import Iterator
from typing import Annotated

import typer
import uvicorn
from rich.table import Table

from llmloop.cli.demo_loop import print_loop_story
from llmloop.cli.output import JsonOption, console, err_console, print_json
from llmloop.cli.serve import announce
from llmloop.demo import DemoResult, ScenarioOptions, SliceMetrics, run_scenario
from llmloop.demo.loop import run_loop
from llmloop.demo.loop_results import LoopOptions
from llmloop.records import Role
from llmloop.runtime import Runtime
from llmloop.server.app import create_app
from llmloop.settings import Settings, get_settings

DEMO_KEY_NAME = "demo-ui"


class Chapter(enum.StrEnum):
    one = "1"
    two = "2"
    all = "all"


class _StatusProgress:
    """Shows each long step as a spinner on stderr, then a tick with its duration."""

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        started = time.perf_counter()
        with err_console.status(f"{title}…"):
            yield
        err_console.print(
            f"[green]✓[/green] {title} [dim]({time.perf_counter() - started:.1f} s)[/dim]"
        )


def demo(
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Run the story and exit instead of serving the UI.")
    ] = False,
    as_json: JsonOption = False,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic tickets and samples.")] = 7,
    tickets: Annotated[
        int, typer.Option(help="How many base tickets to generate.", min=200, max=200_000)
    ] = 4000,
    port: Annotated[
        int | None, typer.Option(help="Port to serve on (default 8642).", min=1, max=65535)
    ] = None,
    chapter: Annotated[
        Chapter, typer.Option(help="1: model v1 and the shift; 2: closing the loop; all.")
    ] = Chapter.all,
    requests: Annotated[
        int | None,
        typer.Option(help="Chapter 2: requests before the canary (default 1500).", min=20),
    ] = None,
    canary_requests: Annotated[
        int | None,
        typer.Option(help="Chapter 2: requests during the canary (default 2000).", min=20),
    ] = None,
) -> None:
    """Run the offline demo: triage v1 and the shift it misses, then the loop that fixes it."""
    settings = get_settings()
    options = ScenarioOptions(seed=seed, tickets=tickets)
    progress = None if as_json else _StatusProgress()
    result = None
    if chapter is not Chapter.two:
        result = run_scenario(settings, options, progress=progress)
        if not as_json:
            print_story(result)
    loop = None
    if chapter is not Chapter.one:
        sizes = {"first_wave": requests, "canary_wave": canary_requests}
        loop_options = LoopOptions(seed=seed, **{k: v for k, v in sizes.items() if v is not None})
        base = result.training.model if result is not None else None
        loop = run_loop(settings, loop_options, base_model=base, progress=progress)
        if not as_json:
            print_loop_story(loop)
    if as_json:
        print_json(result if loop is None else loop if result is None else
                   {"chapter_one": result, "chapter_two": loop})  # fmt: skip
    if no_serve:
        return
    # With --json, stdout holds the JSON alone: the server's announcements go to stderr.
    redirect = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    with redirect:
        _serve(settings, options.project, port)


# --------------------------------------------------------------------------- serving


def _demo_secret(runtime: Runtime, project_name: str) -> str:
    """A key to sign in to the demo project: the first admin key, else a fresh demo key.

    Secrets are never stored, so on a re-run the previous demo key is revoked and a new
    one issued (both audited) rather than keys piling up.
    """
    project, secret = runtime.tenancy.bootstrap(project_name)
    if secret is not None:
        return secret
    for key in runtime.tenancy.keys.list(project.id):
        if key.name == DEMO_KEY_NAME:
            runtime.tenancy.revoke_key(
                project.id, key.id, actor="demo", reason="llmloop demo re-run: new sign-in key"
            )
    _, secret = runtime.tenancy.create_key(project.id, DEMO_KEY_NAME, Role.admin, actor="demo")
    return secret


def _serve(settings: Settings, project: str, port: int | None) -> None:
    settings = settings.model_copy(update={"project": project})
    host, port = settings.host, port or settings.port
    runtime = Runtime(settings)
    secret = _demo_secret(runtime, project)
    announce(runtime, host, port)
    console.print("  Open the demo signed in:")
    console.print(f"    http://{host}:{port}/login?key={secret}", soft_wrap=True, highlight=False)
    console.print("  [dim]Ctrl+C stops the server.[/dim]")
    app = create_app(runtime)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    uvicorn.Server(config).run()


# --------------------------------------------------------------------------- the story


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip("…") + "…"


def _shares(counts: dict[str, int]) -> str:
    total = sum(counts.values()) or 1
    return ", ".join(f"{k} {v / total * 100:.0f}%" for k, v in counts.items())


def _slice_table(title: str, rows: dict[str, SliceMetrics | None]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in ("slice", "tickets", "accuracy", "macro-F1"):
        table.add_column(column, justify="left" if column == "slice" else "right")
    for name, metrics in rows.items():
        if metrics is not None:
            table.add_row(name, str(metrics.n), _pct(metrics.accuracy), _pct(metrics.macro_f1))
    return table


def print_story(result: DemoResult) -> None:
    """The run as a short story with its figures, for people."""
    console.print()
    console.print(f"[bold]llmloop demo[/bold] · chapter {result.chapter}")
    console.print(
        f"[dim]project {result.project} · data dir {result.data_dir} · {result.seconds:.1f} s[/dim]"
    )
    _story_data(result)
    _story_model(result)
    _story_live(result)
    _story_embeddings(result)
    _story_shift(result)
    console.print("\n[bold]Simulated in this run[/bold]")
    for item in result.simulated:
        console.print(f"  · {item}", highlight=False)


def _story_data(result: DemoResult) -> None:
    data = result.dataset
    console.print(f"\n[bold]1. Tickets[/bold] [yellow](simulated)[/yellow] — {data.generator}")
    console.print(
        f"  {data.tickets:,} support tickets for the fictional gadget maker Lumio, seed "
        f"{data.seed}, generated in {data.seconds:.2f} s\n"
        f"  intents: {_shares(data.by_intent)}\n"
        f"  languages: {_shares(data.by_language)}\n"
        f"  products: {_shares(data.by_product)}\n"
        f"  difficulty: {_shares(data.by_difficulty)}\n"
        f"  split {data.train:,} for training / {data.test:,} held out, stratified by intent",
        highlight=False,
    )


def _story_model(result: DemoResult) -> None:
    training, evaluation = result.training, result.evaluation
    console.print(f"\n[bold]2. Triage model v{training.version}[/bold] — {training.model}")
    if training.reused:
        console.print(
            f"  reused version {training.version}: it was trained on exactly these "
            f"{training.training_size:,} tickets (no new model.train event)",
            highlight=False,
        )
    else:
        console.print(
            f"  trained in {training.seconds:.1f} s on {training.training_size:,} tickets "
            f"(TF-IDF n-grams + logistic regression, {len(training.classes)} intents, "
            f"{training.reply_language} reply templates); audited as model.train "
            f"{training.audit_event_id}",
            highlight=False,
        )
    overall = evaluation.overall
    console.print(
        f"  held-out: accuracy [bold]{_pct(overall.accuracy)}[/bold], macro-F1 "
        f"{_pct(overall.macro_f1)} on {overall.n:,} tickets; mean confidence "
        f"{_pct(evaluation.mean_confidence)}; drafted reply = reference reply for "
        f"{_pct(evaluation.reply_match)} (v1 answers in {training.reply_language} only)",
        highlight=False,
    )
    rows: dict[str, SliceMetrics | None] = {"all": overall}
    rows |= {f"language {k}": v for k, v in evaluation.by_language.items()}
    rows |= {f"product {k}": v for k, v in evaluation.by_product.items()}
    rows |= {f"{k} tickets": v for k, v in evaluation.by_difficulty.items()}
    console.print(_slice_table("  Held-out tickets by slice", rows))


def _story_live(result: DemoResult) -> None:
    live = result.live
    console.print(
        f"\n[bold]3. Live requests[/bold] [yellow](simulated traffic)[/yellow] — "
        f"{live.requests} held-out tickets sent one by one to {live.model} through the "
        f"provider registry, answered by {live.served_by}",
        highlight=False,
    )
    console.print(
        f"  accuracy {_pct(live.accuracy)}; latency p50 {live.latency_ms_p50:.1f} ms, "
        f"p95 {live.latency_ms_p95:.1f} ms, max {live.latency_ms_max:.1f} ms "
        "(the first call loads the saved model)",
        highlight=False,
    )
    table = Table(header_style="bold")
    for column in ("ticket", "lang", "label", "p", "ms"):
        table.add_column(column, justify="right" if column in ("p", "ms") else "left")
    for call in live.calls:
        verdict = "[green]✓[/green]" if call.correct else f"[red]✗[/red] (expected {call.expected})"
        table.add_row(
            _clip(call.ticket, 44), call.language, f"{call.label} {verdict}",
            f"{call.probability:.2f}", f"{call.latency_ms:.1f}",
        )  # fmt: skip
    console.print(table)


def _story_embeddings(result: DemoResult) -> None:
    emb = result.embeddings
    console.print(
        f"\n[bold]4. Embeddings[/bold] — {emb.model} (here {emb.served_by}, {emb.dimension} "
        f"dimensions): {emb.references + 2 * emb.queries:,} tickets in {emb.seconds:.1f} s "
        f"({emb.texts_per_second:.0f}/s)",
        highlight=False,
    )
    console.print(
        f"  nearest training ticket has the same intent for {_pct(emb.nn_intent_agreement)} "
        f"of {emb.queries} held-out tickets (same language: {_pct(emb.nn_same_language)}); "
        f"for shifted tickets {_pct(emb.shifted_nn_intent_agreement)}\n"
        f"  mean cosine to the nearest training ticket: held-out {emb.mean_nn_similarity:.3f}, "
        f"shifted {emb.shifted_mean_nn_similarity:.3f}",
        highlight=False,
    )


def _story_shift(result: DemoResult) -> None:
    shift = result.shift
    new = ", ".join(
        [f"language {x}" for x in shift.new_languages]
        + [f"product {x}" for x in shift.new_products]
    )
    console.print(
        f"\n[bold]5. The shift[/bold] [yellow](simulated)[/yellow] — {shift.tickets:,} later "
        f"tickets with {new or 'no new slice'}",
        highlight=False,
    )
    console.print(
        f"  languages: {_shares(shift.by_language_count)}; products: "
        f"{_shares(shift.by_product_count)}\n"
        f"  accuracy [bold]{_pct(shift.overall.accuracy)}[/bold] (held-out "
        f"{_pct(result.evaluation.overall.accuracy)}, a drop of "
        f"{shift.accuracy_drop * 100:.1f} points); mean confidence "
        f"{_pct(shift.mean_confidence)}; reply match {_pct(shift.reply_match)}",
        highlight=False,
    )
    rows: dict[str, SliceMetrics | None] = {
        "all shifted": shift.overall,
        f"new language ({', '.join(shift.new_languages) or '-'})": shift.new_language,
        f"new product ({', '.join(shift.new_products) or '-'})": shift.new_product,
        "familiar language and product": shift.familiar,
    }
    rows |= {f"language {k}": v for k, v in shift.by_language.items()}
    console.print(_slice_table("  Shifted tickets by slice", rows))
    console.print(
        "  These are the numbers for the next chapters to catch and repair.", highlight=False
    )
