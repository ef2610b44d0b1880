"""Scorers that read a structured answer: a multiple-choice pick, a number the target
reported (such as a log-probability)."""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Any, ClassVar

from llmloop.evaluation.scorers.base import Sample, ScorerConfig, Section, scorer
from llmloop.records import Score

LETTERS = string.ascii_uppercase
_LEADING = re.compile(r"^\W*\(?([A-Z])(?:\)|(?=[.:,;\n]|$))")
_STATED = re.compile(
    r"\b(?:answer|option|choice)\s*(?:is|would be|:)?\s*:?\s*\(?([A-Za-z])\)?(?=[\s.):,;]|$)",
    re.I,
)


def parse_choice(answer: Any, options: Sequence[str]) -> int | None:
    """The index of the option an answer picks, or None when it picks none or several.

    An integer is taken as the index; text is read as a leading letter (``B``, ``(B)``,
    ``B. The cook``), a stated one (``The answer is B``), or else the one option whose
    text it contains (case-insensitive).
    """
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int):
        return answer if 0 <= answer < len(options) else None
    if not isinstance(answer, str):
        return None
    for pattern in (_LEADING, _STATED):
        found = pattern.search(answer.strip())
        if found:
            index = LETTERS.index(found.group(1).upper())
            if index < len(options):
                return index
    text = answer.casefold()
    hits = [i for i, option in enumerate(options) if option.strip() and option.casefold() in text]
    if len(hits) > 1:  # an option contained in another ("the cook" in "the cook's son")
        hits = [
            i
            for i in hits
            if not any(options[i].casefold() in options[j].casefold() for j in hits if j != i)
        ]
    return hits[0] if len(hits) == 1 else None


class MultipleChoice(ScorerConfig):
    """Whether the answer picks the expected option. Also writes ``<name>.choice``: the
    picked letter, or ``none`` when no single option could be read from the answer."""

    kind: ClassVar[str] = "multiple_choice"
    output_field: str = "text"
    options_field: str = "options"
    expected_field: str = "label"

    def requires(self) -> list[tuple[Section, str]]:
        return [
            ("outputs", self.output_field),
            ("expectations", self.options_field),
            ("expectations", self.expected_field),
        ]


@scorer(MultipleChoice)
def multiple_choice(config: MultipleChoice, sample: Sample) -> list[Score]:
    options = [str(o) for o in sample.get("expectations", config.options_field)]
    expected = sample.get("expectations", config.expected_field)
    picked = parse_choice(sample.get("outputs", config.output_field), options)
    return [
        sample.score(config, picked is not None and picked == expected),
        sample.score(
            config,
            "none" if picked is None else LETTERS[picked],
            name=f"{config.score_name}.choice",
        ),
    ]


class OutputNumber(ScorerConfig):
    """A number from the target's outputs kept as a score (``outputs[field]``)."""

    kind: ClassVar[str] = "output_number"
    field: str = "logprob"

    @property
    def score_name(self) -> str:
        return self.name or self.field

    def requires(self) -> list[tuple[Section, str]]:
        return [("outputs", self.field)]


@scorer(OutputNumber)
def output_number(config: OutputNumber, sample: Sample) -> Score:
    value = sample.get("outputs", config.field)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"outputs.{config.field} must be a number, got {value!r}")
    return sample.score(config, float(value))
