"""Annotation queues: items, assignment, answers, agreement, adjudication, golden promotion."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, model_validator

from llmloop.annotation import (
    AgreementReport,
    AssignOutcome,
    ItemPage,
    ItemView,
    LabelErrorReport,
    LabelSchema,
    PromoteOutcome,
    Queues,
    QueueSummary,
    annotator_name,
    flag_label_errors,
    promote,
    queue_from_selection,
)
from llmloop.labeling.active import Strategy
from llmloop.server.deps import Editor, ProjectDep, RuntimeDep, Viewer
from llmloop.store.annotation_types import Item, ItemStatus, Progress
from llmloop.tenancy import Principal

router = APIRouter(tags=["annotation"])
BASE = "/projects/{project}/queues"
QUEUE = BASE + "/{queue}"
ITEM = QUEUE + "/items/{item_id}"


def get_queues(runtime: RuntimeDep) -> Queues:
    return Queues(runtime.db, runtime.tenancy.audit)


QueuesDep = Annotated[Queues, Depends(get_queues)]
AnnotatorField = Field(
    default=None,
    max_length=200,
    description="Who answers; default the API key's name (set it when a key is shared).",
)


class QueueCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["intent-review"])
    description: str = Field(default="", max_length=5000)
    label_schema: LabelSchema = Field(alias="schema")
    required: int = Field(default=1, ge=1, le=20, description="Annotators per item.")
    dataset: str | None = Field(default=None, description="Queue this dataset's records.")
    version: str | None = Field(default=None, description="Alias, number (v2) or id.")
    record_ids: list[str] | None = Field(default=None, description="Default: every record.")
    trace_ids: list[str] | None = Field(default=None, description="Queue these traces instead.")

    @model_validator(mode="after")
    def _one_source(self) -> QueueCreate:
        if (self.dataset is None) == (self.trace_ids is None):
            raise ValueError("give either dataset (with optional record_ids) or trace_ids")
        if self.trace_ids is not None and (self.record_ids or self.version):
            raise ValueError("record_ids and version go with dataset, not trace_ids")
        return self


class SelectionCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    dataset: str
    version: str | None = None
    label_schema: LabelSchema = Field(alias="schema")
    size: int = Field(ge=1, le=100_000)
    strategy: Strategy
    probs: list[list[float]] | None = None
    label_matrix: list[list[int]] | None = None
    cardinality: int | None = Field(default=None, ge=2)
    embeddings: list[list[float]] | None = None
    labeled: list[int] = Field(default_factory=list)
    pool: int = Field(default=10, ge=1, le=1000)
    seed: int = 0
    required: int = Field(default=1, ge=1, le=20)
    description: str = Field(default="", max_length=5000)


class AssignRequest(BaseModel):
    annotators: list[str] = Field(min_length=1, max_length=100)
    item_ids: list[str] | None = Field(default=None, description="Default: unsettled items.")


class NextRequest(BaseModel):
    annotator: str | None = AnnotatorField


class NextItem(BaseModel):
    item: Item | None = Field(description="None when nothing is left for this annotator.")
    annotator: str
    progress: Progress


class AnswerRequest(BaseModel):
    value: Any = Field(description="A class, a list of classes (multi), text or a rating.")
    comment: str | None = Field(default=None, max_length=5000)
    annotator: str | None = AnnotatorField


class SkipRequest(BaseModel):
    comment: str | None = Field(default=None, max_length=5000)
    annotator: str | None = AnnotatorField


class AdjudicateRequest(BaseModel):
    value: Any = Field(description="The final label.")
    reason: str | None = Field(default=None, max_length=2000)


class PromoteRequest(BaseModel):
    dataset: str | None = Field(default=None, description="Default: the queue's dataset.")
    message: str = Field(default="", max_length=2000)


class LabelErrorsRequest(BaseModel):
    dataset: str
    version: str | None = None
    field: str = Field(default="label", min_length=1, max_length=100)
    text_field: str | None = Field(default=None, description="Default: all string inputs.")
    folds: int = Field(default=5, ge=2, le=20)
    seed: int = 0
    queue: str | None = Field(default=None, description="Send the flags to this new queue.")
    required: int = Field(default=1, ge=1, le=20)
    limit: int | None = Field(default=None, ge=1, description="Keep the most likely only.")


def _annotator(principal: Principal, given: str | None) -> str:
    return given if given is not None else annotator_name(principal.actor)


@router.get(BASE, summary="Annotation queues with their progress.")
def list_queues(project: ProjectDep, _: Viewer, queues: QueuesDep) -> list[QueueSummary]:
    return queues.list(project.id)


@router.post(BASE, status_code=201, summary="Create a queue of dataset records or traces.")
def create_queue(
    body: QueueCreate, project: ProjectDep, principal: Editor, queues: QueuesDep
) -> QueueSummary:
    common: dict[str, Any] = {
        "schema": body.label_schema,
        "required": body.required,
        "description": body.description,
        "actor": principal.actor,
    }
    if body.trace_ids is not None:
        return queues.create_from_traces(project.id, body.name, trace_ids=body.trace_ids, **common)
    assert body.dataset is not None
    return queues.create_from_dataset(
        project.id,
        body.name,
        dataset=body.dataset,
        version=body.version,
        record_ids=body.record_ids,
        **common,
    )


@router.post(BASE + "/select", status_code=201, summary="Queue records an AL strategy picks.")
def create_from_selection(
    body: SelectionCreate, project: ProjectDep, principal: Editor, queues: QueuesDep
) -> QueueSummary:
    return queue_from_selection(
        queues,
        project.id,
        body.name,
        dataset=body.dataset,
        version=body.version,
        schema=body.label_schema,
        size=body.size,
        strategy=body.strategy,
        probs=body.probs,
        label_matrix=body.label_matrix,
        cardinality=body.cardinality,
        embeddings=body.embeddings,
        labeled=body.labeled,
        pool=body.pool,
        seed=body.seed,
        required=body.required,
        description=body.description,
        actor=principal.actor,
    )


@router.post(BASE + "/label-errors", summary="Flag likely label errors (confident learning).")
def label_errors(
    body: LabelErrorsRequest, project: ProjectDep, principal: Editor, queues: QueuesDep
) -> LabelErrorReport:
    return flag_label_errors(
        queues,
        project.id,
        body.dataset,
        version=body.version,
        field=body.field,
        text_field=body.text_field,
        folds=body.folds,
        seed=body.seed,
        queue=body.queue,
        required=body.required,
        limit=body.limit,
        actor=principal.actor,
    )


@router.get(QUEUE, summary="A queue with its progress and annotators.")
def get_queue(queue: str, project: ProjectDep, _: Viewer, queues: QueuesDep) -> QueueSummary:
    return queues.summary(project.id, queue)


@router.get(QUEUE + "/items", summary="A page of items with their answers.")
def list_items(
    queue: str,
    project: ProjectDep,
    _: Viewer,
    queues: QueuesDep,
    status: ItemStatus | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ItemPage:
    return queues.items(project.id, queue, status=status, offset=offset, limit=limit)


@router.get(ITEM, summary="One item with its answers.")
def get_item(
    queue: str, item_id: str, project: ProjectDep, _: Viewer, queues: QueuesDep
) -> ItemView:
    return queues.item(project.id, queue, item_id)


@router.post(QUEUE + "/assign", summary="Assign items to annotators.")
def assign(
    queue: str, body: AssignRequest, project: ProjectDep, principal: Editor, queues: QueuesDep
) -> AssignOutcome:
    return queues.assign(
        project.id, queue, body.annotators, item_ids=body.item_ids, actor=principal.actor
    )


@router.post(QUEUE + "/next", summary="The annotator's next item (claimed for them).")
def next_item(
    queue: str, body: NextRequest, project: ProjectDep, principal: Editor, queues: QueuesDep
) -> NextItem:
    who = _annotator(principal, body.annotator)
    item = queues.next_item(project.id, queue, who)
    return NextItem(item=item, annotator=who, progress=queues.summary(project.id, queue).progress)


@router.post(ITEM + "/answers", summary="Submit an answer (replaces the annotator's earlier one).")
def submit(
    queue: str,
    item_id: str,
    body: AnswerRequest,
    project: ProjectDep,
    principal: Editor,
    queues: QueuesDep,
) -> ItemView:
    who = _annotator(principal, body.annotator)
    return queues.submit(project.id, queue, item_id, who, body.value, comment=body.comment)


@router.post(ITEM + "/skip", summary="Skip an item; it goes to another annotator.")
def skip(
    queue: str,
    item_id: str,
    body: SkipRequest,
    project: ProjectDep,
    principal: Editor,
    queues: QueuesDep,
) -> ItemView:
    who = _annotator(principal, body.annotator)
    return queues.skip(project.id, queue, item_id, who, comment=body.comment)


@router.post(ITEM + "/adjudicate", summary="Decide an item's final label (audited).")
def adjudicate(
    queue: str,
    item_id: str,
    body: AdjudicateRequest,
    project: ProjectDep,
    principal: Editor,
    queues: QueuesDep,
) -> ItemView:
    return queues.adjudicate(
        project.id,
        queue,
        item_id,
        body.value,
        adjudicator=annotator_name(principal.actor),
        actor=principal.actor,
        reason=body.reason,
    )


@router.get(QUEUE + "/agreement", summary="Percent agreement, Cohen's kappa, Krippendorff's alpha.")
def get_agreement(queue: str, project: ProjectDep, _: Viewer, queues: QueuesDep) -> AgreementReport:
    return queues.agreement(project.id, queue)


@router.post(QUEUE + "/promote", summary="Write settled items into the dataset's golden alias.")
def promote_queue(
    queue: str, body: PromoteRequest, project: ProjectDep, principal: Editor, queues: QueuesDep
) -> PromoteOutcome:
    return promote(
        queues, project.id, queue, dataset=body.dataset, message=body.message, actor=principal.actor
    )
