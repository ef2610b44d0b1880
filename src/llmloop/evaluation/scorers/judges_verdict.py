"""Reading a judge's answer: a JSON verdict, found however the model wrapped it.

A judge is asked for ``{"rationale": "...", "score": <number>}`` (pointwise) or
``{"rationale": "...", "winner": "A" | "B" | "tie"}`` (pairwise). Models answer with bare
JSON, JSON in a Markdown fence, JSON amid prose, or just ``Score: 4``; all of these are
read. Anything else raises :class:`UnparsableVerdict` with what was wrong, which the
judge turns into a clear error score rather than a guess.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Scale = Literal["1-5", "0-1"]
Winner = Literal["A", "B", "tie"]
SCALES: dict[str, tuple[float, float]] = {"1-5": (1.0, 5.0), "0-1": (0.0, 1.0)}

_DECODER = json.JSONDecoder()
_SCORE_TEXT = re.compile(r"\b(?:score|rating|verdict)\b\W{0,3}\s*(-?\d+(?:\.\d+)?)", re.I)
_WINNER_TEXT = re.compile(r"\bwinner\b\W{0,3}\s*(A|B|tie)\b", re.I)
_EXCERPT = 200


class UnparsableVerdict(ValueError):
    """The judge's answer holds no readable verdict."""


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _EXCERPT else flat[:_EXCERPT] + "…"


def find_json(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (bare, fenced or amid prose), or None."""
    start = text.find("{")
    while start != -1:
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


def _rationale(found: dict[str, Any] | None, text: str) -> str:
    if found is not None:
        for key in ("rationale", "reasoning", "reason", "explanation"):
            if isinstance(found.get(key), str):
                return str(found[key])
    return text.strip()


def parse_score(text: str, scale: Scale) -> tuple[float, str]:
    """``(raw score, rationale)`` from a pointwise judge's answer, checked against ``scale``."""
    found = find_json(text)
    raw: Any = None
    if found is not None:
        raw = next((found[k] for k in ("score", "rating", "verdict") if k in found), None)
    if raw is None:
        match = _SCORE_TEXT.search(text)
        raw = match.group(1) if match else None
    if isinstance(raw, bool):
        raw = float(raw)
    try:
        value = float(raw) if raw is not None else None
    except (TypeError, ValueError):
        value = None
    if value is None or not np.isfinite(value):
        raise UnparsableVerdict(f"no numeric score in the judge's answer: {_excerpt(text)!r}")
    low, high = SCALES[scale]
    if not low <= value <= high:
        raise UnparsableVerdict(f"score {value:g} is outside the scale {scale}")
    return value, _rationale(found, text)


def parse_winner(text: str) -> tuple[Winner, str]:
    """``(winner, rationale)`` from a pairwise judge's answer."""
    found = find_json(text)
    raw = found.get("winner") if found is not None else None
    if raw is None:
        match = _WINNER_TEXT.search(text)
        raw = match.group(1) if match else None
    choice = str(raw).strip().strip("[]()\"'").lower() if raw is not None else ""
    table: dict[str, Winner] = {"a": "A", "b": "B", "tie": "tie", "draw": "tie", "equal": "tie"}
    if choice not in table:
        raise UnparsableVerdict(
            f"no winner ('A', 'B' or 'tie') in the judge's answer: {_excerpt(text)!r}"
        )
    return table[choice], _rationale(found, text)


def normalise(value: float, scale: Scale) -> float:
    """A raw score on ``scale`` mapped onto [0, 1]."""
    low, high = SCALES[scale]
    return (value - low) / (high - low)


@dataclass(frozen=True, slots=True)
class Spread:
    """How much repeated samples of a judge agree."""

    agreement: float
    """Share of samples giving the most common verdict (1.0: all the same)."""
    variance: float
    """Population variance of the numeric verdicts (0.0 when not numeric)."""
    mode: Hashable


def spread(verdicts: Sequence[Hashable], numeric: Sequence[float] = ()) -> Spread:
    """Agreement and variance of repeated verdicts (at least one)."""
    if not verdicts:
        raise ValueError("spread() needs at least one verdict")
    counts = Counter(verdicts)
    mode, top = counts.most_common(1)[0]
    variance = float(np.var(numeric)) if len(numeric) else 0.0
    return Spread(agreement=top / len(verdicts), variance=variance, mode=mode)
