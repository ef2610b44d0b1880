"""Prompt templates: sandboxed Jinja2, declared and typed variables, compiled once.

A template never reaches Python objects beyond what it is given (Jinja2's
``SandboxedEnvironment``), and an undefined name is an error rather than an empty
string (``StrictUndefined``). Variables are checked against their declarations before
rendering, so the error names the missing or mistyped variable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from llmloop.errors import ValidationError
from llmloop.store.prompts import ChatTemplate, PromptContent, PromptVersion, Variable

ENV = SandboxedEnvironment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)

_CHECKS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "string": (str, "a string"),
    "integer": (int, "an integer"),
    "number": ((int, float), "a number"),
    "boolean": (bool, "a boolean"),
    "list": (list, "a list"),
    "object": (dict, "an object"),
}


def type_problem(variable: Variable, value: Any) -> str | None:
    """Why ``value`` does not fit ``variable``'s type, or None when it does."""
    expected, described = _CHECKS[variable.type]
    fits = isinstance(value, expected)
    if variable.type in ("integer", "number") and isinstance(value, bool):
        fits = False
    if variable.type == "list" and isinstance(value, tuple):
        fits = True
    if fits:
        return None
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return (
        f"variable {variable.name!r} must be {described} ({variable.type}), "
        f"got {type(value).__name__} {shown}"
    )


def _sources(content: PromptContent) -> list[tuple[str, str]]:
    """(where, template source) pairs of a content, for error messages."""
    if content.kind == "text":
        return [("text", content.text or "")]
    return [(f"messages[{i}]", m.content) for i, m in enumerate(content.messages)]


def used_variables(content: PromptContent) -> list[str]:
    """Top-level names the templates read, in order of first use."""
    names: list[str] = []
    for where, source in _sources(content):
        try:
            parsed = ENV.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            message = f"template {where} has a syntax error on line {exc.lineno}: {exc.message}"
            raise ValidationError(message, details=[{"field": where, "message": message}]) from None
        names.extend(n for n in sorted(meta.find_undeclared_variables(parsed)) if n not in names)
    return names


def check_content(content: PromptContent) -> PromptContent:
    """Validate a version before it is stored; infer variables when none are declared.

    Raises :class:`ValidationError` for a syntax error, a variable used but not declared,
    a duplicate declaration, or a default of the wrong type.
    """
    if content.kind == "text" and not (content.text or "").strip():
        raise ValidationError("a text prompt needs a non-empty 'text' template")
    if content.kind == "chat" and not content.messages:
        raise ValidationError("a chat prompt needs at least one message in 'messages'")
    if content.kind == "text" and content.messages:
        raise ValidationError("a text prompt has 'text', not 'messages'")
    if content.kind == "chat" and content.text is not None:
        raise ValidationError("a chat prompt has 'messages', not 'text'")
    used = used_variables(content)
    if not content.variables:
        inferred = [Variable(name=n) for n in used]
        return content.model_copy(update={"variables": inferred})
    declared = [v.name for v in content.variables]
    duplicates = sorted({n for n in declared if declared.count(n) > 1})
    if duplicates:
        raise ValidationError(f"variable(s) declared twice: {', '.join(duplicates)}")
    undeclared = [n for n in used if n not in declared]
    if undeclared:
        names = ", ".join(repr(n) for n in undeclared)
        raise ValidationError(
            f"the template uses undeclared variable(s) {names}; declare them in 'variables' "
            "(or declare none to have every variable inferred as a required string)",
            details=[{"field": "variables", "undeclared": undeclared}],
        )
    for variable in content.variables:
        if variable.default is not None and (problem := type_problem(variable, variable.default)):
            raise ValidationError(f"default of {problem}")
    return content


def resolve_variables(
    declared: Sequence[Variable], given: Mapping[str, Any], *, where: str = "the prompt"
) -> dict[str, Any]:
    """The values to render with: given ones type-checked, defaults filled in.

    Extra variables that are not declared are passed through unchanged.
    """
    if not isinstance(given, Mapping):
        raise ValidationError(f"variables must be an object, got {type(given).__name__}")
    values = dict(given)
    missing: list[str] = []
    for variable in declared:
        if variable.name not in values or values[variable.name] is None:
            if variable.default is not None:
                values[variable.name] = variable.default
            elif variable.required:
                missing.append(variable.name)
            else:
                values[variable.name] = None
            continue
        if problem := type_problem(variable, values[variable.name]):
            raise ValidationError(
                f"{problem} (in {where})",
                details=[{"field": f"variables.{variable.name}", "message": problem}],
            )
    if missing:
        names = ", ".join(repr(n) for n in missing)
        message = f"missing required variable(s) {names} for {where}"
        details = [{"field": f"variables.{n}", "message": "required"} for n in missing]
        raise ValidationError(message, details=details)
    return values


class CompiledPrompt:
    """A version's templates parsed once; calling it renders chat messages.

    It satisfies the gateway's ``Renderer``: variables in, OpenAI-shaped messages out.
    """

    __slots__ = ("_messages", "_variables", "where")

    def __init__(self, content: PromptContent, *, where: str = "the prompt") -> None:
        self.where = where
        self._variables = list(content.variables)
        chats: Sequence[ChatTemplate] = (
            content.messages
            if content.kind == "chat"
            else [ChatTemplate(role="user", content=content.text or "")]
        )
        self._messages = [(m.role, m.name, ENV.from_string(m.content)) for m in chats]

    def __call__(self, variables: Mapping[str, Any]) -> list[dict[str, Any]]:
        values = resolve_variables(self._variables, variables, where=self.where)
        out: list[dict[str, Any]] = []
        for role, name, template in self._messages:
            try:
                text = template.render(values)
            except jinja2.UndefinedError as exc:
                raise ValidationError(f"rendering {self.where} failed: {exc.message}") from None
            except jinja2.TemplateError as exc:
                raise ValidationError(f"rendering {self.where} failed: {exc}") from None
            except (TypeError, ValueError, ArithmeticError) as exc:
                raise ValidationError(
                    f"rendering {self.where} failed: {type(exc).__name__}: {exc}"
                ) from None
            message: dict[str, Any] = {"role": role, "content": text}
            if name:
                message["name"] = name
            out.append(message)
        return out


def compile_version(version: PromptVersion) -> CompiledPrompt:
    return CompiledPrompt(
        version.content(), where=f"prompt {version.prompt_name!r} {version.label}"
    )


def render(version: PromptVersion, variables: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Render once (compiles every time; keep a :class:`CompiledPrompt` to reuse)."""
    return compile_version(version)(variables)
