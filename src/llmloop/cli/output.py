"""Readable tables for people, ``--json`` for programs, errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(_plain(value), indent=2, default=str) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if hasattr(value, "value"):
        return str(value.value)
    return str(value)


def print_table(
    rows: Iterable[Any],
    columns: Sequence[tuple[str, Callable[[Any], Any]]],
    *,
    title: str | None = None,
    empty: str = "nothing to show",
) -> None:
    rows = list(rows)
    if not rows:
        console.print(f"[dim]{empty}[/dim]")
        return
    table = Table(title=title, header_style="bold")
    for name, _ in columns:
        table.add_column(name)
    for row in rows:
        table.add_row(*(_cell(get(row)) for _, get in columns))
    console.print(table)


def show(
    value: Any,
    as_json: bool,
    columns: Sequence[tuple[str, Callable[[Any], Any]]],
    **table_kwargs: Any,
) -> None:
    if as_json:
        print_json(value)
    else:
        print_table(value if isinstance(value, list) else [value], columns, **table_kwargs)


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/bold red] {message}", highlight=False)
    return typer.Exit(code)
