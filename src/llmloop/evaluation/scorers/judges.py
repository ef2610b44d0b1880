"""LLM judges on any provider: rubric (G-Eval style), correctness, faithfulness, pairwise.

A judge asks ``model`` (any model reference of the provider registry) for a JSON verdict,
``samples`` times, and writes Scores with source ``judge:<model>``:

- ``<name>``: the verdict normalised to [0, 1] (mean over samples; pairwise: 1 win,
  0.5 tie or position-inconsistent, 0 loss), with the rationale and the cost of all the
  judge's calls; the string ``"unparsable"`` when no sample could be read, with why.
- ``<name>.agreement`` and ``<name>.variance`` when ``samples > 1``: the share of samples
  giving the most common verdict and the variance of the verdicts, so a flaky judge shows.
- pairwise: the verdict is the majority over samples (a split vote is a tie), and
  ``<name>.verdict`` (``win``/``loss``/``tie``/``inconsistent``) and
  ``<name>.consistent`` (share of samples whose verdict survived swapping positions).

Calibration: when records carry human labels in ``expectations[human_field][<name>]``
(default field ``human_labels``; a label on the judge's own scale, e.g. 1-5, or
``win``/``loss``/``tie`` for pairwise), runs add ``<name>.kappa`` (Cohen's kappa) and
``<name>.human_accuracy`` to their aggregates; judge values are snapped to the scale's
points first (a mean of 3.67 on 1-5 counts as 4).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, field_validator

from llmloop.errors import ValidationError
from llmloop.evaluation.calibration import agreement
from llmloop.evaluation.scorers.base import (
    Prepared,
    Row,
    Sample,
    ScorerConfig,
    Section,
    aggregator,
    scorer,
)
from llmloop.evaluation.scorers.judges_verdict import (
    SCALES,
    Scale,
    UnparsableVerdict,
    normalise,
    parse_score,
    parse_winner,
    spread,
)
from llmloop.providers.registry import ModelRef
from llmloop.records import Score, ScoreSource, ScoreSourceKind, ScoreValue

UNPARSABLE = "unparsable"
POINTWISE_FORMAT = (
    'Answer with a JSON object only: {{"rationale": "<your reasoning, briefly>", '
    '"score": <a number from {low:g} to {high:g}>}}.'
)
PAIRWISE_FORMAT = (
    'Answer with a JSON object only: {"rationale": "<your reasoning, briefly>", '
    '"winner": "A" or "B" or "tie"}.'
)
PAIR_VALUES: dict[str, float] = {"win": 1.0, "tie": 0.5, "inconsistent": 0.5, "loss": 0.0}


class JudgeConfig(ScorerConfig):
    """Settings shared by every judge."""

    model: str = Field(min_length=3, description="Model reference of the judge, provider/name.")
    samples: int = Field(default=1, ge=1, le=50, description="Verdicts asked per record.")
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    json_mode: bool = Field(
        default=True,
        description="Send response_format json_object; turn off for servers that reject it.",
    )
    input_field: str | None = "question"
    output_field: str = "text"
    human_field: str = "human_labels"

    @field_validator("model")
    @classmethod
    def _model_ref(cls, value: str) -> str:
        try:
            return str(ModelRef.parse(value))
        except ValidationError as exc:
            raise ValueError(str(exc)) from None

    def requires(self) -> list[tuple[Section, str]]:
        fields: list[tuple[Section, str]] = [("outputs", self.output_field)]
        if self.input_field is not None:
            fields.append(("inputs", self.input_field))
        return fields

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.json_mode:
            params["response_format"] = {"type": "json_object"}
        return {k: v for k, v in params.items() if v is not None}


class PointwiseJudge(JudgeConfig):
    """A judge giving one score per record on ``scale``."""

    scale: Scale = "1-5"

    def task(self, sample: Sample) -> str:
        raise NotImplementedError

    def prompt(self, sample: Sample) -> str:
        low, high = SCALES[self.scale]
        parts = [self.task(sample)]
        if self.input_field is not None:
            parts.append(f"[Input]\n{sample.text('inputs', self.input_field)}")
        parts.append(f"[Response]\n{sample.text('outputs', self.output_field)}")
        parts.extend(self.extra_sections(sample))
        parts.append(POINTWISE_FORMAT.format(low=low, high=high))
        return "\n\n".join(parts)

    def extra_sections(self, sample: Sample) -> list[str]:
        return []


class RubricJudge(PointwiseJudge):
    """G-Eval style rubric: ``criteria`` and evaluation ``steps``, scored on ``scale``;
    with ``expected_field`` the reference answer is shown too."""

    kind: ClassVar[str] = "judge_rubric"
    criteria: str = Field(min_length=1)
    steps: tuple[str, ...] = ()
    expected_field: str | None = None

    def requires(self) -> list[tuple[Section, str]]:
        extra: list[tuple[Section, str]] = (
            [("expectations", self.expected_field)] if self.expected_field else []
        )
        return super().requires() + extra

    def task(self, sample: Sample) -> str:
        low, high = SCALES[self.scale]
        lines = [
            "You are an impartial evaluator. Rate the response against the criteria, "
            f"on a scale from {low:g} (worst) to {high:g} (best).",
            f"Criteria: {self.criteria}",
        ]
        if self.steps:
            lines.append("Evaluation steps:")
            lines.extend(f"{i}. {step}" for i, step in enumerate(self.steps, 1))
        return "\n".join(lines)

    def extra_sections(self, sample: Sample) -> list[str]:
        if self.expected_field is None:
            return []
        return [f"[Reference]\n{sample.text('expectations', self.expected_field)}"]


class CorrectnessJudge(PointwiseJudge):
    """Is the response correct with respect to the reference in ``expected_field``?"""

    kind: ClassVar[str] = "judge_correctness"
    scale: Scale = "0-1"
    expected_field: str = "answer"

    def requires(self) -> list[tuple[Section, str]]:
        return [*super().requires(), ("expectations", self.expected_field)]

    def task(self, sample: Sample) -> str:
        return (
            "You are an impartial evaluator. Judge whether the response is factually "
            "correct and complete with respect to the reference answer; wording may differ. "
            "Score 0 for incorrect, 1 for correct, in between for partly correct."
        )

    def extra_sections(self, sample: Sample) -> list[str]:
        return [f"[Reference]\n{sample.text('expectations', self.expected_field)}"]


class FaithfulnessJudge(PointwiseJudge):
    """Is every claim of the response supported by the context at
    ``context_section.context_field`` (for RAG answers)?"""

    kind: ClassVar[str] = "judge_faithfulness"
    scale: Scale = "0-1"
    context_section: Section = "inputs"
    context_field: str = "context"

    def requires(self) -> list[tuple[Section, str]]:
        return [*super().requires(), (self.context_section, self.context_field)]

    def task(self, sample: Sample) -> str:
        return (
            "You are an impartial evaluator. Judge whether every claim in the response is "
            "supported by the context. Score 1 if fully supported, 0 if it contradicts the "
            "context or adds unsupported claims, in between for partly supported."
        )

    def extra_sections(self, sample: Sample) -> list[str]:
        return [f"[Context]\n{sample.text(self.context_section, self.context_field)}"]


class PairwiseJudge(JudgeConfig):
    """Preference between the output and a baseline output at
    ``baseline_section.baseline_field``, asked in both orders to cancel position bias."""

    kind: ClassVar[str] = "judge_pairwise"
    criteria: str = "Which response answers the input better: more helpful, correct and clear?"
    baseline_section: Section = "expectations"
    baseline_field: str = "baseline"

    def requires(self) -> list[tuple[Section, str]]:
        return [*super().requires(), (self.baseline_section, self.baseline_field)]

    def prompt(self, sample: Sample, first: str, second: str) -> str:
        parts = [f"You are an impartial evaluator comparing two responses. {self.criteria}"]
        if self.input_field is not None:
            parts.append(f"[Input]\n{sample.text('inputs', self.input_field)}")
        parts += [f"[Response A]\n{first}", f"[Response B]\n{second}", PAIRWISE_FORMAT]
        return "\n\n".join(parts)


def _judge_score(
    config: JudgeConfig, sample: Sample, value: ScoreValue, suffix: str = "", **extra: Any
) -> Score:
    return Score(
        target_id=sample.record_id,
        name=config.score_name + suffix,
        value=value,
        source=ScoreSource(kind=ScoreSourceKind.judge, name=config.model),
        scorer_version=config.scorer_version,
        **extra,
    )


async def _ask(config: JudgeConfig, sample: Sample, prompt: str) -> tuple[str, float]:
    if sample.providers is None:
        raise ValidationError(f"{config.kind} needs a provider registry to call its judge")
    response = await sample.providers.chat(
        config.model, [{"role": "user", "content": prompt}], **config.params()
    )
    return response.text, float(response.cost_usd or 0.0)


def _spread_scores(
    config: JudgeConfig, sample: Sample, verdicts: Sequence[str], numeric: Sequence[float]
) -> list[Score]:
    if config.samples == 1:
        return []
    s = spread(verdicts, numeric)
    return [
        _judge_score(config, sample, s.agreement, ".agreement"),
        _judge_score(config, sample, s.variance, ".variance"),
    ]


async def pointwise_judge(config: PointwiseJudge, sample: Sample) -> list[Score]:
    prompt = config.prompt(sample)
    answers = await asyncio.gather(*(_ask(config, sample, prompt) for _ in range(config.samples)))
    cost = sum(c for _, c in answers)
    raw: list[float] = []
    verdicts: list[str] = []
    rationales: list[str] = []
    problems: list[str] = []
    for text, _ in answers:
        try:
            value, why = parse_score(text, config.scale)
        except UnparsableVerdict as exc:
            problems.append(str(exc))
            verdicts.append(UNPARSABLE)
            continue
        raw.append(value)
        verdicts.append(f"{value:g}")
        rationales.append(why)
    if not raw:
        why = f"judge output unparsable in all {config.samples} sample(s): {problems[0]}"
        return [_judge_score(config, sample, UNPARSABLE, rationale=why, cost_usd=cost)]
    normalised = [normalise(v, config.scale) for v in raw]
    summary = f"score {np.mean(raw):g} on {config.scale}"
    if config.samples > 1:
        s = spread(verdicts, normalised)
        summary += (
            f" (mean of {len(raw)} parsed of {config.samples} samples: "
            f"{', '.join(verdicts)}; agreement {s.agreement:.2f}, variance {s.variance:.3f})"
        )
    main = _judge_score(
        config,
        sample,
        float(np.mean(normalised)),
        rationale=f"{summary}: {rationales[0]}",
        cost_usd=cost,
    )
    return [main, *_spread_scores(config, sample, verdicts, normalised)]


def _pair_verdict(first: str, second: str) -> str:
    """The output's verdict from both orders: output as A first, then as B."""
    as_a = parse_winner(first)[0]
    as_b = parse_winner(second)[0]
    mine_first = {"A": "win", "B": "loss", "tie": "tie"}[as_a]
    mine_second = {"A": "loss", "B": "win", "tie": "tie"}[as_b]
    return mine_first if mine_first == mine_second else "inconsistent"


def _majority(verdicts: Sequence[str]) -> str:
    """The most common verdict; a split vote between several is a tie."""
    counts = Counter(verdicts)
    top = max(counts.values())
    leaders = [v for v, c in counts.items() if c == top]
    return leaders[0] if len(leaders) == 1 else "tie"


@scorer(PairwiseJudge)
async def pairwise_judge(config: PairwiseJudge, sample: Sample) -> list[Score]:
    output = sample.text("outputs", config.output_field)
    baseline = sample.text(config.baseline_section, config.baseline_field)
    forward, backward = (
        config.prompt(sample, output, baseline),
        config.prompt(sample, baseline, output),
    )
    calls = [_ask(config, sample, p) for _ in range(config.samples) for p in (forward, backward)]
    answers = await asyncio.gather(*calls)
    cost = sum(c for _, c in answers)
    verdicts: list[str] = []
    problems: list[str] = []
    for i in range(0, len(answers), 2):
        try:
            verdicts.append(_pair_verdict(answers[i][0], answers[i + 1][0]))
        except UnparsableVerdict as exc:
            problems.append(str(exc))
            verdicts.append(UNPARSABLE)
    parsed = [v for v in verdicts if v != UNPARSABLE]
    if not parsed:
        why = f"judge output unparsable in all {config.samples} sample(s): {problems[0]}"
        return [_judge_score(config, sample, UNPARSABLE, rationale=why, cost_usd=cost)]
    final = _majority(parsed)
    consistent = sum(v != "inconsistent" for v in parsed) / len(parsed)
    rationale = (
        f"{final} against the baseline over {config.samples} sample(s), each asked in both "
        f"orders: {', '.join(verdicts)}"
    )
    if final == "inconsistent":
        rationale += " (the verdict followed the position, not the content: position bias)"
    values = [PAIR_VALUES[v] for v in parsed]
    return [
        _judge_score(config, sample, PAIR_VALUES[final], rationale=rationale, cost_usd=cost),
        _judge_score(config, sample, final, ".verdict"),
        _judge_score(config, sample, consistent, ".consistent"),
        *_spread_scores(config, sample, verdicts, values),
    ]


def snap(config: JudgeConfig, value: ScoreValue) -> ScoreValue:
    """A judge value or human label as a category for calibration."""
    if isinstance(config, PointwiseJudge) and isinstance(value, int | float):
        low, high = SCALES[config.scale]
        raw = low + float(value) * (high - low)
        return float(np.floor(raw + 0.5))
    return value


def _human_label(config: JudgeConfig, row: Row) -> ScoreValue | None:
    labels = row.expectations.get(config.human_field)
    if not isinstance(labels, dict):
        return None
    label = labels.get(config.score_name)
    if isinstance(label, int | float) and isinstance(config, PointwiseJudge):
        return snap(config, normalise(float(label), config.scale))
    return label if isinstance(label, str | int | float) else None


def _judge_label(config: JudgeConfig, row: Row) -> ScoreValue | None:
    name = config.score_name + (".verdict" if isinstance(config, PairwiseJudge) else "")
    for score in row.scores:
        if score.name == name and score.value != UNPARSABLE:
            return snap(config, score.value)
    return None


def calibration(config: JudgeConfig, rows: Sequence[Row]) -> Prepared:
    """Kappa and accuracy against human labels, over the rows that have both."""
    pairs: list[tuple[ScoreValue, ScoreValue] | None] = []
    for row in rows:
        j, h = _judge_label(config, row), _human_label(config, row)
        pairs.append((j, h) if j is not None and h is not None else None)
    name = config.score_name
    n = sum(p is not None for p in pairs)

    def values(idx: np.ndarray) -> dict[str, float]:
        picked = [pair for pair in (pairs[i] for i in idx) if pair is not None]
        if not picked:
            return {}
        found = agreement([j for j, _ in picked], [h for _, h in picked])
        return {f"{name}.kappa": found.kappa, f"{name}.human_accuracy": found.accuracy}

    details = {f"{name}.calibration": {"n": n, "human_field": config.human_field}} if n else {}
    return Prepared(n=n, values=values, details=details)


for _pointwise in (RubricJudge, CorrectnessJudge, FaithfulnessJudge):
    scorer(_pointwise)(pointwise_judge)
for _judge in (RubricJudge, CorrectnessJudge, FaithfulnessJudge, PairwiseJudge):
    aggregator(_judge)(calibration)
