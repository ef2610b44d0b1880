"""Templates: sandboxed rendering, typed variables, checks before a version is stored."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmloop.errors import ValidationError
from llmloop.prompts.templates import CompiledPrompt, check_content, type_problem
from llmloop.store.prompts import PromptContent, Variable


def chat(*contents: str, variables: list[dict[str, Any]] | None = None) -> PromptContent:
    messages = [{"role": "user" if i else "system", "content": c} for i, c in enumerate(contents)]
    return PromptContent(kind="chat", messages=messages, variables=variables or [])  # type: ignore[arg-type]


def test_text_template_renders_to_one_user_message_with_defaults() -> None:
    content = check_content(
        PromptContent(
            kind="text",
            text="Summarise in {{ words }} words:\n{{ text }}",
            variables=[Variable(name="text"), Variable(name="words", type="integer", default=50)],
        )
    )
    render = CompiledPrompt(content, where="prompt 'summary' v1")
    assert render({"text": "A long story."}) == [
        {"role": "user", "content": "Summarise in 50 words:\nA long story."}
    ]
    assert render({"text": "x", "words": 5})[0]["content"].startswith("Summarise in 5 words")


def test_loops_filters_and_objects() -> None:
    content = check_content(
        chat(
            "Known intents: {{ intents | join(', ') }}.",
            "{% for m in history %}{{ m.role }}: {{ m.text }}\n{% endfor %}{{ ticket | upper }}",
            variables=[
                {"name": "intents", "type": "list"},
                {"name": "ticket"},
                {"name": "history", "type": "list", "default": []},
            ],
        )
    )
    messages = CompiledPrompt(content)(
        {
            "intents": ["refund", "shipping"],
            "ticket": "where is it",
            "history": [{"role": "user", "text": "hi"}],
        }
    )
    assert messages == [
        {"role": "system", "content": "Known intents: refund, shipping."},
        {"role": "user", "content": "user: hi\nWHERE IS IT"},
    ]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({}, "missing required variable(s) 'product', 'ticket' for prompt 'p' v2"),
        ({"product": 3, "ticket": "t"}, "variable 'product' must be a string (string), got int 3"),
        ({"product": "p", "ticket": "t", "count": True}, "'count' must be an integer"),
        (
            {"product": "p", "ticket": "t", "count": "2"},
            "'count' must be an integer (integer), got str",
        ),
        ({"product": "p", "ticket": "t", "meta": []}, "'meta' must be an object"),
    ],
)
def test_render_names_the_missing_or_mistyped_variable(
    variables: dict[str, Any], message: str
) -> None:
    content = check_content(
        chat(
            "{{ product }} {{ count }} {{ meta }}",
            "{{ ticket }}",
            variables=[
                {"name": "product"},
                {"name": "ticket"},
                {"name": "count", "type": "integer", "required": False},
                {"name": "meta", "type": "object", "required": False},
            ],
        )
    )
    with pytest.raises(ValidationError) as info:
        CompiledPrompt(content, where="prompt 'p' v2")(variables)
    assert message in info.value.message


def test_sandbox_refuses_python_internals() -> None:
    content = check_content(chat("{{ x.__class__.__mro__[1].__subclasses__() }}"))
    with pytest.raises(ValidationError, match="rendering the prompt failed"):
        CompiledPrompt(content)({"x": "a"})


def test_undefined_attribute_is_an_error_not_an_empty_string() -> None:
    content = check_content(chat("{{ user.name }}", variables=[{"name": "user", "type": "object"}]))
    with pytest.raises(ValidationError, match="has no attribute 'name'"):
        CompiledPrompt(content)({"user": {}})


def test_checks_before_storing() -> None:
    with pytest.raises(ValidationError, match="syntax error on line 1"):
        check_content(chat("{{ broken"))
    with pytest.raises(ValidationError, match="undeclared variable\\(s\\) 'ticket'"):
        check_content(chat("{{ product }} {{ ticket }}", variables=[{"name": "product"}]))
    with pytest.raises(ValidationError, match="declared twice: a"):
        check_content(chat("{{ a }}", variables=[{"name": "a"}, {"name": "a"}]))
    with pytest.raises(ValidationError, match="default of variable 'n' must be an integer"):
        check_content(chat("{{ n }}", variables=[{"name": "n", "type": "integer", "default": "x"}]))
    with pytest.raises(ValidationError, match="at least one message"):
        check_content(PromptContent(kind="chat"))
    with pytest.raises(ValidationError, match="non-empty 'text'"):
        check_content(PromptContent(kind="text", text="  "))
    inferred = check_content(chat("{{ b }} {{ a }}", "{% for x in items %}{{ x }}{% endfor %}"))
    assert [(v.name, v.type, v.required) for v in inferred.variables] == [
        ("a", "string", True),
        ("b", "string", True),
        ("items", "string", True),
    ]


def test_content_hash_ignores_key_order_and_sees_every_field() -> None:
    one = PromptContent(kind="text", text="{{ a }}", params={"temperature": 0, "top_p": 1})
    two = PromptContent(kind="text", text="{{ a }}", params={"top_p": 1, "temperature": 0})
    assert one.digest() == two.digest()
    for change in (
        {"text": "{{ a }}!"},
        {"params": {"temperature": 1}},
        {"tools": [{}]},
        {"response_schema": {"type": "object"}},
        {"variables": [Variable(name="a", type="integer")]},
    ):
        assert one.model_copy(update=change).digest() != one.digest(), change


_VALUES = {
    "string": st.text(max_size=5),
    "integer": st.integers(),
    "number": st.floats(allow_nan=False),
    "boolean": st.booleans(),
    "list": st.lists(st.integers(), max_size=3),
    "object": st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
}


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(declared=st.sampled_from(sorted(_VALUES)), data=st.data())
def test_type_check_accepts_exactly_its_own_type(declared: str, data: st.DataObject) -> None:
    actual = data.draw(st.sampled_from(sorted(_VALUES)))
    value = data.draw(_VALUES[actual])
    problem = type_problem(Variable(name="v", type=declared), value)  # type: ignore[arg-type]
    compatible = declared == actual or (declared == "number" and actual == "integer")
    assert (problem is None) == compatible, (declared, actual, value, problem)
