"""``llmloop projects``, ``keys`` and ``db``: tenancy and the schema."""

from __future__ import annotations

from typing import Annotated

import typer

from llmloop.cli.output import JsonOption, console, print_json, show
from llmloop.records import Role
from llmloop.sdk.client import connect
from llmloop.settings import get_settings
from llmloop.store import Database
from llmloop.store.migrate import current_revision, head_revision, upgrade

projects_app = typer.Typer(help="Projects (tenants).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys of the current project.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)

PROJECT_COLUMNS = [
    ("name", lambda p: p.name),
    ("id", lambda p: p.id),
    ("created", lambda p: p.created_at),
    ("description", lambda p: p.description),
]
KEY_COLUMNS = [
    ("name", lambda k: k.name),
    ("id", lambda k: k.id),
    ("role", lambda k: k.role),
    ("prefix", lambda k: k.prefix + "…"),
    ("public", lambda k: "yes" if k.public else ""),
    ("last used", lambda k: k.last_used_at),
]


@projects_app.command("list")
def projects_list(as_json: JsonOption = False) -> None:
    """List projects visible to you."""
    with connect() as client:
        show(client.projects.list(), as_json, PROJECT_COLUMNS, title="Projects")


@projects_app.command("create")
def projects_create(name: str, description: str = "", as_json: JsonOption = False) -> None:
    """Create a project and print its first admin key (shown once)."""
    with connect() as client:
        project, secret = client.projects.create(name, description)
    if as_json:
        print_json({"project": project, "secret": secret})
        return
    console.print(f"Created project [bold]{project.name}[/bold] ({project.id}).")
    console.print(f"Admin key (shown only once): [bold]{secret}[/bold]")


@keys_app.command("list")
def keys_list(as_json: JsonOption = False) -> None:
    """List active keys (secrets are never shown again)."""
    with connect() as client:
        show(client.keys.list(), as_json, KEY_COLUMNS, title=f"Keys of {client.project}")


@keys_app.command("create")
def keys_create(
    name: str,
    role: Annotated[Role, typer.Option(help="viewer, editor or admin.")] = Role.viewer,
    public: Annotated[bool, typer.Option(help="Feedback-only key for browser apps.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Issue a key and print its secret once."""
    with connect() as client:
        key, secret = client.keys.create(name, role, public=public)
    if as_json:
        print_json({"key": key, "secret": secret})
        return
    console.print(f"Created {key.role.value} key [bold]{key.name}[/bold] ({key.id}).")
    console.print(f"Secret (shown only once): [bold]{secret}[/bold]")


@keys_app.command("revoke")
def keys_revoke(
    key_id: str,
    reason: Annotated[str | None, typer.Option(help="Why, for the audit log.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a key."""
    with connect() as client:
        key = client.keys.revoke(key_id, reason)
    show(key, as_json, [*KEY_COLUMNS, ("revoked", lambda k: k.revoked_at)])


def _open_unmigrated() -> Database:
    return Database(get_settings().resolved_database_url)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    as_json: JsonOption = False,
) -> None:
    """Apply migrations (the server also does this on start)."""
    db = _open_unmigrated()
    try:
        before = current_revision(db)
        after = upgrade(db, revision)
    finally:
        db.close()
    if as_json:
        print_json({"database": db.safe_url, "from": before, "to": after})
    else:
        console.print(f"{db.safe_url}: {before or 'empty'} → {after}")


@db_app.command("current")
def db_current(as_json: JsonOption = False) -> None:
    """Show the schema revision of the database and of this code."""
    db = _open_unmigrated()
    try:
        current = current_revision(db)
    finally:
        db.close()
    head = head_revision()
    info = {
        "database": db.safe_url,
        "current": current,
        "head": head,
        "up_to_date": current == head,
    }
    if as_json:
        print_json(info)
    else:
        state = "[green]up to date[/green]" if current == head else "[yellow]needs upgrade[/yellow]"
        console.print(f"{db.safe_url}: {current or 'empty'} (code head {head}) {state}")
