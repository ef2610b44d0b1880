"""What the demo's second chapter measured, as typed values (printed and in ``--json``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LoopOptions(_Result):
    """Knobs of the second chapter. The defaults are what ``llmloop demo`` runs."""

    seed: int = Field(default=7, description="Seed of the traffic, users and annotators.")
    first_wave: int = Field(
        default=1500, ge=20, le=20_000, description="Shifted requests served by v1 alone."
    )
    canary_wave: int = Field(
        default=2000, ge=20, le=50_000, description="Shifted requests during the canary."
    )
    users: int = Field(default=200, ge=2, description="Simulated users sending the requests.")
    feedback_rate: float = Field(
        default=0.8, gt=0, le=1, description="Share of answers a simulated user rates."
    )
    low_confidence: float = Field(
        default=0.6, gt=0, lt=1, description="Answers below this probability go to review."
    )
    annotator_accuracy: tuple[float, float] = Field(
        default=(0.92, 0.86), description="How often each simulated annotator is right."
    )
    train_share: float = Field(
        default=0.7, gt=0, lt=1, description="Share of the golden set v2 is fine-tuned on."
    )
    canary_share: int = Field(default=50, ge=1, le=99, description="Percent of traffic on v2.")
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    min_samples: int = Field(default=100, ge=10, description="Requests per arm before a move.")
    perturbations: tuple[str, ...] = ("typo", "casing", "punctuation")
    project: str = "demo"
    deployment: str = "ticket-triage"
    prompt: str = "ticket-triage"
    review_dataset: str = "ticket-triage-review"
    queue_prefix: str = "triage-review"


class WaveFigures(_Result):
    """Shifted tickets sent as requests (simulated traffic), and what users said."""

    requests: int
    served_by: dict[str, int] = Field(description="Answering model -> requests.")
    arms: dict[str, int] = Field(description="Deployment arm -> requests.")
    accuracy_by_arm: dict[str, float] = Field(description="Triage accuracy per arm (true label).")
    pt_accuracy_by_arm: dict[str, float] = Field(description="The same on Portuguese tickets.")
    thumbs_up: int
    thumbs_down: int
    unrated: int
    latency_ms_p50: float
    latency_ms_p95: float
    seconds: float


class ReviewFigures(_Result):
    """Failures sent to an annotation queue, labelled by two simulated annotators."""

    dataset: str
    dataset_version: str
    queue: str
    selected: int
    thumbs_down: int
    low_confidence: int
    both: int
    annotators: dict[str, float] = Field(description="Annotator -> accuracy against the truth.")
    answers: int
    percent_agreement: float | None
    kappa_mean: float | None
    alpha: float | None
    resolved: int
    disputed: int
    adjudicated: int
    final_label_accuracy: float = Field(description="Settled labels that equal the true intent.")
    golden_version: str
    golden_records: int
    train_alias_records: int
    test_alias_records: int
    seconds: float


class FineTuneFigures(_Result):
    base: str
    model: str
    version: int
    reused: bool
    added_examples: int
    training_size: int
    seconds: float | None
    audit_event_id: str | None


class ArmFigures(_Result):
    arm: str
    model: str
    requests: int
    thumbs_n: int
    thumbs_up_rate: float | None


class ABFigures(_Result):
    """The canary's A/B report on end-user thumbs, and what the policy did."""

    deployment: str
    split: dict[str, float]
    sticky_by: str
    arms: list[ArmFigures]
    metric: str
    control_value: float | None
    candidate_value: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    verdict: str | None
    policy_action: str | None
    policy_reason: str | None
    stable_after: str
    audit_event_id: str | None
    audit_actor: str | None


class EvalFigures(_Result):
    """v1 against v2 on the held-out part of the golden set, and v2's robustness."""

    dataset: str
    records: int
    baseline_run: str
    candidate_run: str
    baseline_accuracy: float | None
    candidate_accuracy: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    test: str | None
    fixed: int | None
    broken: int | None
    robustness_run: str
    robustness: dict[str, float | None] = Field(description="Headline robustness metrics.")
    robustness_by_perturbation: dict[str, float | None] = Field(
        description="Share of records whose answer is unchanged, per perturbation."
    )


class LoopResult(_Result):
    """Everything the second chapter did and measured."""

    chapter: str = "2: closing the loop"
    project: str
    data_dir: str
    options: LoopOptions
    traffic_path: str = Field(description="How requests reached the model.")
    base_model: str
    deployment_versions: dict[str, str] = Field(description="Deployment version -> model.")
    prompt_version: str
    first_wave: WaveFigures
    review: ReviewFigures
    fine_tune: FineTuneFigures
    canary_wave: WaveFigures
    ab: ABFigures
    evaluation: EvalFigures
    simulated: list[str]
    seconds: float
