"""``llmloop models``: providers, models, a quick call."""

from __future__ import annotations

from typing import Annotated

import typer

from llmloop.cli.output import JsonOption, console, print_json, show
from llmloop.sdk.client import connect

models_app = typer.Typer(help="Model providers and models.", no_args_is_help=True)


@models_app.command("list")
def models_list(as_json: JsonOption = False) -> None:
    """List the models the configured providers offer."""
    with connect() as client:
        models = client.models.list()
    show(
        models,
        as_json,
        [
            ("model", lambda m: m.id),
            ("kind", lambda m: m.kind),
            ("description", lambda m: m.description),
        ],
        title="Models",
        empty="no models listed; `llmloop demo` trains a local one",
    )


@models_app.command("chat")
def models_chat(
    model: Annotated[str, typer.Argument(help="provider/name, e.g. local/ticket-assistant")],
    prompt: Annotated[str, typer.Argument(help="The user message.")],
    system: Annotated[str | None, typer.Option(help="A system message.")] = None,
    temperature: Annotated[float | None, typer.Option(min=0, max=2)] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1)] = None,
    as_json: JsonOption = False,
) -> None:
    """Send one message to a model and print the answer."""
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}
    ]
    params = {
        k: v
        for k, v in {"temperature": temperature, "max_tokens": max_tokens}.items()
        if v is not None
    }
    with connect() as client:
        response = client.models.chat(model, messages, **params)
    if as_json:
        print_json(response)
        return
    console.print(response.text, highlight=False)
    cost = f"${response.cost_usd:.6f}" if response.cost_usd is not None else "unknown cost"
    usage = response.usage
    console.print(
        f"[dim]{response.model} · {usage.prompt_tokens}+{usage.completion_tokens} tokens · "
        f"{cost} · {response.latency_ms or 0:.1f} ms[/dim]"
    )
    if response.extra:
        console.print(f"[dim]{response.extra}[/dim]")


@models_app.command("embed")
def models_embed(
    texts: Annotated[list[str], typer.Argument(help="Texts to embed.")],
    model: Annotated[str, typer.Option(help="Embedding model.")] = "local/embed",
    as_json: JsonOption = False,
) -> None:
    """Embed texts and print their dimensions and cosine similarities."""
    with connect() as client:
        vectors = client.models.embed(model, texts)
    if as_json:
        print_json({"model": model, "vectors": vectors.tolist()})
        return
    console.print(f"{len(texts)} vectors of dimension {vectors.shape[1]} from {model}")
    norms = (vectors**2).sum(axis=1, keepdims=True) ** 0.5
    unit = vectors / norms.clip(min=1e-12)
    sims = unit @ unit.T
    for i, text in enumerate(texts):
        row = " ".join(f"{s:5.2f}" for s in sims[i])
        console.print(f"{row}  {text[:60]}", highlight=False)
