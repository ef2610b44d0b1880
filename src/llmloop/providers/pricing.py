"""Model prices in USD per million tokens, and the cost of a call.

Keys are model references, ``provider/name``. A dated snapshot or ``-latest`` alias of a
listed model costs what the model costs (``openai/gpt-4o-mini-2024-07-18`` →
``openai/gpt-4o-mini``); ``provider/*`` prices a whole provider (``local/*`` is free).
Anything else is unknown and its cost is ``None`` — never a guess.

Override or extend the table in a TOML or JSON file named by ``LLMLOOP_PRICES_FILE``::

    [prices."openai/gpt-4o"]            # TOML; JSON: {"prices": {"openai/gpt-4o": {...}}}
    input = 2.5                         # USD per 1M input (prompt) tokens
    output = 10.0                       # USD per 1M output (completion) tokens

or in code: ``default_prices().set("vllm/*", input=0, output=0)``.

The builtin prices are list prices (standard tier, no batch or cache discounts) as
published by OpenAI and Anthropic; check them against your invoice.
"""

from __future__ import annotations

import json
import math
import re
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from llmloop.errors import SettingsError
from llmloop.providers.base import Usage
from llmloop.settings import Settings, get_settings

__all__ = ["PRICES_AS_OF", "Price", "PriceTable", "cost", "default_prices"]

PRICES_AS_OF = "2025-10"


@dataclass(frozen=True)
class Price:
    """USD per one million tokens."""

    input: float
    output: float

    def __post_init__(self) -> None:
        for side in ("input", "output"):
            value = getattr(self, side)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise SettingsError(f"price {side}={value!r}: give a number of USD per 1M tokens")
            if not math.isfinite(value) or value < 0:
                raise SettingsError(f"price {side}={value!r}: must be a finite number >= 0")

    def cost(self, usage: Usage) -> float:
        return (usage.prompt_tokens * self.input + usage.completion_tokens * self.output) / 1e6


_BUILTIN: dict[str, tuple[float, float]] = {
    # OpenAI chat
    "openai/gpt-4o": (2.50, 10.00),
    "openai/gpt-4o-2024-05-13": (5.00, 15.00),
    "openai/gpt-4o-mini": (0.15, 0.60),
    "openai/gpt-4.1": (2.00, 8.00),
    "openai/gpt-4.1-mini": (0.40, 1.60),
    "openai/gpt-4.1-nano": (0.10, 0.40),
    "openai/gpt-5": (1.25, 10.00),
    "openai/gpt-5-mini": (0.25, 2.00),
    "openai/gpt-5-nano": (0.05, 0.40),
    "openai/gpt-4-turbo": (10.00, 30.00),
    "openai/gpt-4": (30.00, 60.00),
    "openai/o1": (15.00, 60.00),
    "openai/o1-mini": (1.10, 4.40),
    "openai/o1-pro": (150.00, 600.00),
    "openai/o3": (2.00, 8.00),
    "openai/o3-mini": (1.10, 4.40),
    "openai/o4-mini": (1.10, 4.40),
    # OpenAI embeddings (no output tokens)
    "openai/text-embedding-3-small": (0.02, 0.0),
    "openai/text-embedding-3-large": (0.13, 0.0),
    "openai/text-embedding-ada-002": (0.10, 0.0),
    # Anthropic
    "anthropic/claude-3-haiku": (0.25, 1.25),
    "anthropic/claude-3-opus": (15.00, 75.00),
    "anthropic/claude-3-5-haiku": (0.80, 4.00),
    "anthropic/claude-3-5-sonnet": (3.00, 15.00),
    "anthropic/claude-3-7-sonnet": (3.00, 15.00),
    "anthropic/claude-sonnet-4": (3.00, 15.00),
    "anthropic/claude-sonnet-4-5": (3.00, 15.00),
    "anthropic/claude-haiku-4-5": (1.00, 5.00),
    "anthropic/claude-opus-4": (15.00, 75.00),
    "anthropic/claude-opus-4-1": (15.00, 75.00),
    # embedded local models run on your own hardware
    "local/*": (0.0, 0.0),
}

# What may follow a listed name and still be the same model: dated snapshots
# (-2024-07-18, -20241022, -0613, @20240620), -latest, and a Bedrock-style -v1:0.
_SNAPSHOT = re.compile(r"(?:[-@](?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest))+(?:-v\d+(?::\d+)?)?")


def _split(ref: str) -> tuple[str, str]:
    provider, sep, name = ref.partition("/")
    if not sep or not provider or not name:
        raise SettingsError(
            f"price key {ref!r} is not 'provider/name' (e.g. 'openai/gpt-4o' or 'vllm/*')"
        )
    return provider, name


class PriceTable:
    """Prices by model reference, with snapshot matching; safe to update from threads."""

    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self._prices: dict[str, Price] = {}
        self._lock = threading.Lock()
        for ref, price in (prices or {}).items():
            self.set(ref, input=price.input, output=price.output)

    @classmethod
    def builtin(cls) -> PriceTable:
        return cls({ref: Price(i, o) for ref, (i, o) in _BUILTIN.items()})

    @classmethod
    def from_settings(cls, settings: Settings) -> PriceTable:
        """The builtin table, overridden by ``settings.prices_file`` when set."""
        table = cls.builtin()
        if settings.prices_file is not None:
            table.load_file(settings.prices_file)
        return table

    def set(self, ref: str, *, input: float, output: float) -> None:
        """Set the USD price per 1M input and output tokens for ``ref`` (or ``provider/*``)."""
        _split(ref)
        price = Price(input, output)
        with self._lock:
            self._prices[ref] = price

    def update(self, prices: Mapping[str, Any], source: str = "prices") -> None:
        """Set many prices from ``{"provider/name": {"input": x, "output": y}}``."""
        for ref, entry in prices.items():
            if not isinstance(entry, Mapping) or set(entry) != {"input", "output"}:
                raise SettingsError(
                    f"{source}: entry {ref!r} = {entry!r}; give both input and output, "
                    "in USD per 1M tokens (output = 0 for embedding models)"
                )
            try:
                self.set(ref, input=entry["input"], output=entry["output"])
            except SettingsError as exc:
                raise SettingsError(f"{source}: entry {ref!r}: {exc.message}") from None

    def load_file(self, path: Path | str) -> None:
        """Read overrides from a ``.toml`` or ``.json`` file (a ``prices`` table, or flat)."""
        path = Path(path).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(
                f"prices file {str(path)!r} cannot be read: {exc.strerror}"
            ) from None
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
            raise SettingsError(f"prices file {str(path)!r} is not valid {kind}: {exc}") from None
        if not isinstance(data, dict):
            raise SettingsError(f"prices file {str(path)!r} must hold a table of prices")
        prices = data.get("prices", data)
        if not isinstance(prices, dict):
            raise SettingsError(f"prices file {str(path)!r}: 'prices' must be a table")
        self.update(prices, source=f"prices file {str(path)!r}")

    def lookup(self, ref: str) -> Price | None:
        """The price of ``ref``: exact, then a listed model plus a snapshot suffix, then
        ``provider/*``; None when unknown."""
        provider, sep, name = ref.partition("/")
        if not sep:
            return None
        with self._lock:
            exact = self._prices.get(ref)
            if exact is not None:
                return exact
            best: tuple[int, Price] | None = None
            for key, price in self._prices.items():
                key_provider, _, key_name = key.partition("/")
                if key_provider != provider or not name.startswith(key_name) or key_name == "*":
                    continue
                if _SNAPSHOT.fullmatch(name[len(key_name) :]) and (
                    best is None or len(key_name) > best[0]
                ):
                    best = (len(key_name), price)
            if best is not None:
                return best[1]
            return self._prices.get(f"{provider}/*")

    def cost(self, ref: str, usage: Usage) -> float | None:
        """USD for ``usage`` on ``ref``; None when the price is unknown."""
        price = self.lookup(ref)
        return None if price is None else price.cost(usage)

    def as_dict(self) -> dict[str, Price]:
        with self._lock:
            return dict(self._prices)


@lru_cache(maxsize=1)
def default_prices() -> PriceTable:
    """The process-wide table: builtin prices plus ``LLMLOOP_PRICES_FILE``."""
    return PriceTable.from_settings(get_settings())


def cost(model_ref: str, usage: Usage, table: PriceTable | None = None) -> float | None:
    """USD for ``usage`` on ``model_ref`` (``provider/name``); None when unknown."""
    return (table or default_prices()).cost(model_ref, usage)
