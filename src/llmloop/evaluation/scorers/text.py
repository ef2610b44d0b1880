"""Text scorers: exact and normalized match, contains, regex, token F1, ROUGE-L."""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from llmloop.evaluation.scorers.base import Sample, ScorerConfig, Section, scorer
from llmloop.records import Score

_WORD = re.compile(r"\w+", re.UNICODE)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans(
    "", "", string.punctuation + "\u00a1\u00bf\u00ab\u00bb\u201c\u201d\u2018\u2019"
)


def normalize_text(text: str) -> str:
    """Lower-case, accents folded, punctuation and English articles removed, spaces
    collapsed: the SQuAD-style normalization used by ``normalized_match`` and token F1."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _ARTICLES.sub(" ", text.translate(_PUNCT))
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    return normalize_text(text).split()


class _Compare(ScorerConfig):
    """An output field compared with an expected field."""

    output_field: str = "text"
    expected_field: str = "answer"

    def requires(self) -> list[tuple[Section, str]]:
        return [("outputs", self.output_field), ("expectations", self.expected_field)]


class ExactMatch(_Compare):
    kind: ClassVar[str] = "exact_match"
    strip: bool = Field(default=True, description="Ignore leading and trailing whitespace.")


@scorer(ExactMatch)
def exact_match(config: ExactMatch, sample: Sample) -> Score:
    got = sample.text("outputs", config.output_field)
    want = sample.text("expectations", config.expected_field)
    if config.strip:
        got, want = got.strip(), want.strip()
    return sample.score(config, got == want)


class NormalizedMatch(_Compare):
    kind: ClassVar[str] = "normalized_match"


@scorer(NormalizedMatch)
def normalized_match(config: NormalizedMatch, sample: Sample) -> Score:
    got = normalize_text(sample.text("outputs", config.output_field))
    want = normalize_text(sample.text("expectations", config.expected_field))
    return sample.score(config, got == want)


class Contains(ScorerConfig):
    """Whether the output contains a fixed substring, or the record's expected one."""

    kind: ClassVar[str] = "contains"
    output_field: str = "text"
    substring: str | None = Field(default=None, description="Fixed text to look for.")
    expected_field: str | None = Field(
        default=None, description="Look for the record's expectations[expected_field] instead."
    )
    case_sensitive: bool = False

    def requires(self) -> list[tuple[Section, str]]:
        needed: list[tuple[Section, str]] = [("outputs", self.output_field)]
        if self.expected_field:
            needed.append(("expectations", self.expected_field))
        return needed

    @model_validator(mode="after")
    def _one_needle(self) -> Contains:
        if (self.substring is None) == (self.expected_field is None):
            raise ValueError("give exactly one of 'substring' and 'expected_field'")
        return self


@scorer(Contains)
def contains(config: Contains, sample: Sample) -> Score:
    text = sample.text("outputs", config.output_field)
    needle = config.substring
    if needle is None:
        assert config.expected_field is not None
        needle = sample.text("expectations", config.expected_field)
    if not config.case_sensitive:
        text, needle = text.casefold(), needle.casefold()
    return sample.score(config, needle in text)


class RegexMatch(ScorerConfig):
    """Whether the output matches a regular expression (``re.search``)."""

    kind: ClassVar[str] = "regex"
    pattern: str
    output_field: str = "text"
    ignore_case: bool = False
    full_match: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value

    def requires(self) -> list[tuple[Section, str]]:
        return [("outputs", self.output_field)]


@scorer(RegexMatch)
def regex_match(config: RegexMatch, sample: Sample) -> Score:
    flags = re.IGNORECASE if config.ignore_case else 0
    text = sample.text("outputs", config.output_field)
    match = (re.fullmatch if config.full_match else re.search)(config.pattern, text, flags)
    return sample.score(config, match is not None)


def token_f1_score(prediction: str, reference: str) -> float:
    """SQuAD token F1 between two texts after :func:`normalize_text`."""
    pred, ref = tokens(prediction), tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


class TokenF1(_Compare):
    kind: ClassVar[str] = "token_f1"


@scorer(TokenF1)
def token_f1(config: TokenF1, sample: Sample) -> Score:
    got = sample.text("outputs", config.output_field)
    want = sample.text("expectations", config.expected_field)
    return sample.score(config, token_f1_score(got, want))


def _lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence, with one rolling row (O(len(b)) memory)."""
    if len(a) < len(b):
        a, b = b, a
    row = [0] * (len(b) + 1)
    for token in a:
        diagonal = 0
        for j, other in enumerate(b, start=1):
            above = row[j]
            row[j] = diagonal + 1 if token == other else max(row[j], row[j - 1])
            diagonal = above
    return row[-1]


def rouge_l_score(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure: the longest common subsequence of word tokens (any script,
    case-folded), as in Lin (2004) with beta = 1."""
    got, want = _WORD.findall(prediction.casefold()), _WORD.findall(reference.casefold())
    if not got or not want:
        return 0.0
    lcs = _lcs_length(got, want)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(got), lcs / len(want)
    return 2 * precision * recall / (precision + recall)


class RougeL(_Compare):
    kind: ClassVar[str] = "rouge_l"


@scorer(RougeL)
def rouge_l(config: RougeL, sample: Sample) -> Score:
    got = sample.text("outputs", config.output_field)
    want = sample.text("expectations", config.expected_field)
    return sample.score(config, rouge_l_score(got, want))
