"""The price table: lookup, snapshot matching, overrides from files and code."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from llmloop.errors import SettingsError
from llmloop.providers.base import Usage
from llmloop.providers.pricing import Price, PriceTable, cost
from llmloop.settings import Settings

BUILTIN = PriceTable.builtin()


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("openai/gpt-4o-mini", Price(0.15, 0.60)),
        ("openai/gpt-4o-mini-2024-07-18", Price(0.15, 0.60)),
        ("openai/gpt-4o-2024-08-06", Price(2.50, 10.00)),
        ("openai/gpt-4o-2024-05-13", Price(5.00, 15.00)),  # listed: beats the gpt-4o prefix
        ("openai/gpt-4.1-nano-2025-04-14", Price(0.10, 0.40)),
        ("openai/o3-mini-2025-01-31", Price(1.10, 4.40)),
        ("openai/gpt-4-0613", Price(30.00, 60.00)),
        ("openai/text-embedding-3-large", Price(0.13, 0.0)),
        ("anthropic/claude-3-5-sonnet-20241022", Price(3.00, 15.00)),
        ("anthropic/claude-3-5-haiku-latest", Price(0.80, 4.00)),
        ("anthropic/claude-sonnet-4-20250514", Price(3.00, 15.00)),
        ("anthropic/claude-opus-4-1-20250805", Price(15.00, 75.00)),
        ("local/ticket-assistant", Price(0.0, 0.0)),
        ("local/anything/at-all", Price(0.0, 0.0)),
    ],
)
def test_lookup(ref: str, expected: Price) -> None:
    assert BUILTIN.lookup(ref) == expected


@pytest.mark.parametrize(
    "ref",
    [
        "openai/gpt-4o-audio-preview",  # a different model that merely starts like gpt-4o
        "openai/gpt-4-1106-preview",  # priced like gpt-4-turbo, not gpt-4: unknown, not a guess
        "openai/gpt-4o-minix",
        "anthropic/claude-opus-4-5",  # not "claude-opus-4" plus a snapshot
        "vllm/gpt-4o-mini",  # another provider's gpt-4o-mini is not OpenAI's price
        "openai/",
        "gpt-4o-mini",
    ],
)
def test_unknown_models_have_no_price(ref: str) -> None:
    assert BUILTIN.lookup(ref) is None
    assert BUILTIN.cost(ref, Usage(prompt_tokens=10, completion_tokens=10)) is None


def test_cost_arithmetic() -> None:
    usage = Usage(prompt_tokens=2_000_000, completion_tokens=500_000, total_tokens=2_500_000)
    assert BUILTIN.cost("openai/gpt-4o", usage) == pytest.approx(2 * 2.50 + 0.5 * 10.00)
    assert cost("local/embed", usage) == 0.0


def test_programmatic_overrides_and_provider_wildcards() -> None:
    table = PriceTable.builtin()
    table.set("openai/gpt-4o-mini", input=1.0, output=2.0)
    table.set("vllm/*", input=0, output=0)
    table.set("vllm/big-model", input=0.5, output=0.5)
    assert table.lookup("openai/gpt-4o-mini-2024-07-18") == Price(1.0, 2.0)
    assert table.lookup("vllm/meta-llama/Llama-3.1-8B") == Price(0.0, 0.0)
    assert table.lookup("vllm/big-model") == Price(0.5, 0.5)
    assert BUILTIN.lookup("openai/gpt-4o-mini") == Price(0.15, 0.60)  # tables are independent


@pytest.mark.parametrize(
    ("ref", "options", "message"),
    [
        ("gpt-4o", {"input": 1, "output": 1}, "not 'provider/name'"),
        ("openai/x", {"input": -1, "output": 1}, "must be a finite number >= 0"),
        ("openai/x", {"input": float("inf"), "output": 1}, "must be a finite number >= 0"),
        ("openai/x", {"input": "cheap", "output": 1}, "give a number"),
        ("openai/x", {"input": True, "output": 1}, "give a number"),
    ],
)
def test_bad_prices_are_refused(ref: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        PriceTable().set(ref, **options)  # type: ignore[arg-type]


def test_toml_file_overrides_builtin(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        '[prices."openai/gpt-4o"]\ninput = 1.25\noutput = 5\n\n'
        '[prices."ollama/*"]\ninput = 0\noutput = 0\n'
    )
    table = PriceTable.from_settings(Settings(data_dir=tmp_path, prices_file=path))
    assert table.lookup("openai/gpt-4o-2024-11-20") == Price(1.25, 5.0)
    assert table.lookup("ollama/llama3.2") == Price(0.0, 0.0)
    assert table.lookup("openai/gpt-4o-mini") == Price(0.15, 0.60)


def test_json_file_flat_mapping(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"azure/gpt-4o": {"input": 2.5, "output": 10}}))
    table = PriceTable()
    table.load_file(path)
    assert table.as_dict() == {"azure/gpt-4o": Price(2.5, 10.0)}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("p.toml", "[prices\n", "is not valid TOML"),
        ("p.json", "{", "is not valid JSON"),
        ("p.json", "[1, 2]", "must hold a table of prices"),
        ("p.toml", 'prices = "cheap"', "'prices' must be a table"),
        ("p.toml", '[prices."openai/x"]\ninput = 1\n', "give both input and output"),
        ("p.toml", '[prices."openai/x"]\ninput = 1\noutput = -2\n', r"entry 'openai/x'.*>= 0"),
        ("p.toml", '[prices."nope"]\ninput = 1\noutput = 2\n', "not 'provider/name'"),
    ],
)
def test_bad_files_say_what_and_where(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(SettingsError, match=message) as caught:
        PriceTable().load_file(path)
    assert name in caught.value.message


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot be read"):
        PriceTable().load_file(tmp_path / "nope.toml")


SNAPSHOT = st.one_of(
    st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)).map(
        lambda d: d.strftime("-%Y-%m-%d")
    ),
    st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)).map(
        lambda d: d.strftime("-%Y%m%d")
    ),
    st.just("-latest"),
)


@given(st.sampled_from(sorted(k for k in BUILTIN.as_dict() if not k.endswith("/*"))), SNAPSHOT)
def test_a_snapshot_costs_what_its_model_costs(ref: str, suffix: str) -> None:
    assume(BUILTIN.as_dict().get(ref + suffix) is None)
    assert BUILTIN.lookup(ref + suffix) == BUILTIN.lookup(ref)


@given(
    st.sampled_from(sorted(BUILTIN.as_dict())),
    st.integers(0, 10**7),
    st.integers(0, 10**7),
    st.integers(0, 10**6),
)
def test_cost_is_monotone_in_tokens(ref: str, prompt: int, completion: int, more: int) -> None:
    ref = ref.replace("*", "model")
    small = BUILTIN.cost(ref, Usage(prompt_tokens=prompt, completion_tokens=completion))
    bigger = BUILTIN.cost(
        ref, Usage(prompt_tokens=prompt + more, completion_tokens=completion + more)
    )
    assert small is not None and bigger is not None
    assert 0 <= small <= bigger
