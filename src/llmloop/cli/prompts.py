"""``llmloop prompts``: create, list, show, versions, diff, label, render."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from llmloop.cli.output import JsonOption, console, print_json, show
from llmloop.errors import ValidationError
from llmloop.prompts.service import template_text
from llmloop.sdk.client import connect

prompts_app = typer.Typer(
    help="Prompts: immutable versions, labels, diffs and rendering.", no_args_is_help=True
)

NameArg = Annotated[str, typer.Argument(help="Prompt name.")]
RefOpt = Annotated[str, typer.Option("--version", "-v", help="Label, number (v2) or id.")]
VERSION_COLUMNS = [
    ("version", lambda v: v.label),
    ("id", lambda v: v.id),
    ("kind", lambda v: v.kind),
    ("variables", lambda v: ", ".join(f"{x.name}:{x.type}" for x in v.variables)),
    ("hash", lambda v: v.content_hash[:12]),
    ("created", lambda v: v.created_at),
    ("by", lambda v: v.created_by),
    ("message", lambda v: v.message),
]


def _parse_value(text: str) -> Any:
    """A JSON value when the text is one (42, true, [1]), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pairs(items: list[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"{what} {item!r} must look like key=value")
        out[key] = _parse_value(value)
    return out


def _variables(items: list[str] | None) -> list[dict[str, Any]]:
    """``name[:type][=default]`` declarations."""
    out: list[dict[str, Any]] = []
    for item in items or []:
        head, sep, default = item.partition("=")
        name, _, kind = head.partition(":")
        declared: dict[str, Any] = {"name": name, "type": kind or "string"}
        if sep:
            declared["default"] = default if declared["type"] == "string" else _parse_value(default)
        out.append(declared)
    return out


def _spec_file(path: Path) -> dict[str, Any]:
    """A version spec from JSON or TOML: messages or text, variables, params, tools, …"""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw) if path.suffix.lower() == ".toml" else json.loads(raw)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError(
            f"{str(path)!r} is not valid {path.suffix[1:] or 'JSON'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise ValidationError(f"{str(path)!r} must hold an object with messages or text")
    allowed = {"messages", "text", "variables", "params", "tools", "response_schema"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError(
            f"{str(path)!r}: unknown key(s) {', '.join(unknown)}; use {', '.join(sorted(allowed))}"
        )
    return data


@prompts_app.command("create")
def prompts_create(
    name: NameArg,
    file: Annotated[Path | None, typer.Argument(help="JSON or TOML version spec.")] = None,
    text: Annotated[str | None, typer.Option(help="A text template instead of a file.")] = None,
    system: Annotated[str | None, typer.Option(help="System message template.")] = None,
    user: Annotated[str | None, typer.Option(help="User message template.")] = None,
    var: Annotated[list[str] | None, typer.Option(help="name[:type][=default] (repeat).")] = None,
    param: Annotated[list[str] | None, typer.Option(help="key=value (repeat).")] = None,
    label: Annotated[list[str] | None, typer.Option(help="Move this label to it.")] = None,
    message: Annotated[str, typer.Option(help="Why this version.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Commit a version (the prompt is created when missing); same content: same version."""
    spec: dict[str, Any] = _spec_file(file) if file else {}
    if system is not None or user is not None:
        spec["messages"] = [
            {"role": role, "content": content}
            for role, content in (("system", system), ("user", user))
            if content is not None
        ]
    if text is not None:
        spec["text"] = text
    if not spec.get("messages") and spec.get("text") is None:
        raise ValidationError("give a spec file, --text, or --system/--user templates")
    spec.setdefault("variables", []).extend(_variables(var))
    spec.setdefault("params", {}).update(_pairs(param, "--param"))
    with connect() as client:
        outcome = client.prompts.create(name, message=message, labels=label or [], **spec)
    if as_json:
        print_json(outcome)
        return
    version = outcome.version
    state = "new version" if outcome.created else "same content as"
    labels = f", labeled {', '.join(label)}" if label else ""
    console.print(f"{name}: {state} {version.label} ({version.id}){labels}", highlight=False)


@prompts_app.command("list")
def prompts_list(as_json: JsonOption = False) -> None:
    """Prompts with their latest version and labels."""
    with connect() as client:
        summaries = client.prompts.list()
    show(
        summaries,
        as_json,
        [
            ("name", lambda s: s.prompt.name),
            ("versions", lambda s: s.versions),
            ("latest", lambda s: s.latest.label if s.latest else None),
            ("labels", lambda s: ", ".join(lb.name for lb in s.labels)),
            ("description", lambda s: s.prompt.description),
        ],
        title="Prompts",
        empty="no prompts yet; create one with `llmloop prompts create`",
    )


@prompts_app.command("show")
def prompts_show(name: NameArg, version: RefOpt = "latest", as_json: JsonOption = False) -> None:
    """One version: its template, variables and parameters."""
    with connect() as client:
        found = client.prompts.version(name, version)
        labels = client.prompts.get(name).labels
    if as_json:
        print_json(found)
        return
    pointing = [lb.name for lb in labels if lb.version_id == found.id]
    console.print(
        f"[bold]{name} {found.label}[/bold] ({found.id}) labels: {', '.join(pointing) or '-'}"
    )
    console.print(template_text(found), highlight=False, markup=False)
    for v in found.variables:
        flag = "required" if v.required and v.default is None else f"default {v.default!r}"
        console.print(f"variable {v.name}: {v.type}, {flag}", highlight=False)
    if found.params:
        console.print(f"params: {json.dumps(found.params)}", highlight=False, markup=False)


@prompts_app.command("versions")
def prompts_versions(name: NameArg, as_json: JsonOption = False) -> None:
    """Versions, newest first."""
    with connect() as client:
        versions = client.prompts.versions(name)
    show(versions, as_json, VERSION_COLUMNS, title=f"Versions of {name}")


@prompts_app.command("diff")
def prompts_diff(
    name: NameArg,
    from_version: Annotated[str, typer.Argument(help="Older version (label, v1, id).")],
    to_version: Annotated[str, typer.Argument(help="Newer version.")] = "latest",
    as_json: JsonOption = False,
) -> None:
    """Template text as a unified diff, then parameter and variable changes."""
    with connect() as client:
        diff = client.prompts.diff(name, from_version, to_version)
    if as_json:
        print_json(diff)
        return
    if diff.identical:
        console.print(f"{diff.from_version.label} and {diff.to_version.label} are identical")
        return
    console.print(diff.template_diff or "templates unchanged", highlight=False, markup=False)
    for title, changes in (("param", diff.params), ("variable", diff.variables)):
        for c in changes:
            console.print(
                f"{title} {c.key} {c.kind}: {c.before!r} -> {c.after!r}",
                highlight=False,
                markup=False,
            )
    if diff.tools_changed:
        console.print("tools changed")
    if diff.response_schema_changed:
        console.print("response schema changed")


@prompts_app.command("label")
def prompts_label(
    name: NameArg,
    label: Annotated[str, typer.Argument(help="Label to move, e.g. production.")],
    version: Annotated[str, typer.Argument(help="Version it should point at.")],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Point a label at a version (audited)."""
    with connect() as client:
        moved = client.prompts.label(name, label, version, reason=reason)
        target = client.prompts.version(name, moved.version_id)
    if as_json:
        print_json(moved)
        return
    console.print(f"{name}: {label} -> {target.label}")


@prompts_app.command("render")
def prompts_render(
    name: NameArg,
    version: RefOpt = "latest",
    var: Annotated[
        list[str] | None, typer.Option(help="name=value (repeat); JSON values ok.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Render a version with variables, as the gateway would."""
    with connect() as client:
        messages = client.prompts.render(name, _pairs(var, "--var"), version)
    if as_json:
        print_json(messages)
        return
    for m in messages:
        console.print(f"[bold]{m['role']}[/bold]")
        console.print(m["content"], highlight=False, markup=False)
