"""What the demo measured, as typed values: every figure printed comes from one of these."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScenarioOptions(_Result):
    """Knobs of the first chapter. The defaults are what ``llmloop demo`` runs."""

    seed: int = Field(default=7, description="Seed of the ticket generator, split and samples.")
    tickets: int = Field(default=4000, ge=200, le=200_000, description="Base tickets generated.")
    test_fraction: float = Field(default=0.25, gt=0.05, lt=0.95)
    shifted_tickets: int = Field(default=1000, ge=50, le=100_000)
    live_requests: int = Field(default=40, ge=1, le=10_000)
    embed_references: int = Field(
        default=400, ge=20, description="Training tickets embedded as the neighbour index."
    )
    embed_queries: int = Field(
        default=100, ge=10, description="Held-out (and as many shifted) tickets embedded."
    )
    project: str = "demo"
    model_name: str = "ticket-assistant"
    embedding_model: str = "local/embed"


class SliceMetrics(_Result):
    """Intent triage quality on one slice of tickets."""

    n: int
    accuracy: float
    macro_f1: float


class DatasetFigures(_Result):
    generator: str = Field(description="Where the tickets come from (simulated: synthetic).")
    seed: int
    tickets: int
    train: int
    test: int
    by_intent: dict[str, int]
    by_language: dict[str, int]
    by_product: dict[str, int]
    by_difficulty: dict[str, int]
    seconds: float


class TrainingFigures(_Result):
    model: str = Field(description="Reference that serves exactly this version.")
    name: str
    version: int
    reused: bool = Field(
        description="True when a saved version trained on these examples was reused."
    )
    seconds: float | None = Field(description="Training time; None when reused.")
    training_size: int
    classes: list[str]
    reply_language: str = Field(description="Language of the reply templates of this version.")
    audit_event_id: str | None = Field(description="The model.train event (None when reused).")


class EvaluationFigures(_Result):
    """Held-out quality of the model: tickets of the same traffic it was trained on."""

    overall: SliceMetrics
    by_language: dict[str, SliceMetrics]
    by_product: dict[str, SliceMetrics]
    by_difficulty: dict[str, SliceMetrics]
    mean_confidence: float = Field(description="Mean probability of the predicted intent.")
    reply_match: float = Field(description="Share whose drafted reply equals the reference reply.")
    seconds: float


class LiveCall(_Result):
    ticket: str = Field(description="First characters of the ticket sent.")
    language: str
    product: str
    expected: str
    label: str
    probability: float
    correct: bool
    latency_ms: float
    reply: str = Field(description="First characters of the drafted reply.")


class LiveFigures(_Result):
    """Requests through the provider registry, replaying held-out tickets (simulated traffic)."""

    model: str
    served_by: str = Field(description="The exact model the provider answered with.")
    requests: int
    accuracy: float
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_max: float
    calls: list[LiveCall] = Field(description="The first few calls, for the story.")


class EmbeddingFigures(_Result):
    model: str
    served_by: str
    dimension: int
    references: int
    queries: int
    seconds: float
    texts_per_second: float
    nn_intent_agreement: float = Field(
        description="Share of held-out tickets whose nearest training ticket has the same intent."
    )
    nn_same_language: float = Field(description="... whose nearest neighbour has their language.")
    mean_nn_similarity: float = Field(description="Mean cosine to the nearest training ticket.")
    shifted_nn_intent_agreement: float
    shifted_mean_nn_similarity: float


class ShiftFigures(_Result):
    """The model on shifted traffic (simulated: generated with a different mix)."""

    tickets: int
    seed: int
    new_languages: list[str]
    new_products: list[str]
    by_language_count: dict[str, int]
    by_product_count: dict[str, int]
    overall: SliceMetrics
    new_language: SliceMetrics | None
    new_product: SliceMetrics | None
    familiar: SliceMetrics | None = Field(description="Known languages and known products only.")
    by_language: dict[str, SliceMetrics]
    by_product: dict[str, SliceMetrics]
    mean_confidence: float
    accuracy_drop: float = Field(description="Held-out accuracy minus shifted accuracy.")
    reply_match: float


class DemoResult(_Result):
    """Everything the first chapter of the demo did and measured."""

    chapter: str = "1: triage v1 and the shift it misses"
    project: str
    data_dir: str
    options: ScenarioOptions
    dataset: DatasetFigures
    training: TrainingFigures
    evaluation: EvaluationFigures
    live: LiveFigures
    embeddings: EmbeddingFigures
    shift: ShiftFigures
    simulated: list[str] = Field(description="What in this run is simulated rather than real.")
    seconds: float
