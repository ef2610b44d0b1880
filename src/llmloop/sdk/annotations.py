"""``client.queues``: annotation queues, answers, agreement, adjudication, golden promotion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from llmloop.annotation import (
    AgreementReport,
    AssignOutcome,
    ItemPage,
    ItemView,
    LabelErrorReport,
    LabelSchema,
    PromoteOutcome,
    QueueSummary,
)
from llmloop.sdk.base import AsyncApi, Call, SyncApi, as_type
from llmloop.store.annotation_types import Item


def _base(project: str, queue: str | None = None) -> str:
    path = f"/api/v1/projects/{project}/queues"
    return f"{path}/{queue}" if queue else path


def _schema(schema: LabelSchema | dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema, LabelSchema):
        return schema.model_dump(mode="json")
    return dict(schema)


def _rows(array: npt.ArrayLike | None) -> Any:
    return None if array is None else np.asarray(array).tolist()


def _item_of(body: Any) -> Item | None:
    return None if body["item"] is None else Item.model_validate(body["item"])


# ------------------------------------------------------------------------- calls


def list_queues(project: str) -> Call[list[QueueSummary]]:
    return Call("GET", _base(project), as_type(list[QueueSummary]))


def get_queue(project: str, queue: str) -> Call[QueueSummary]:
    return Call("GET", _base(project, queue), as_type(QueueSummary))


def create_queue(project: str, body: dict[str, Any]) -> Call[QueueSummary]:
    return Call("POST", _base(project), as_type(QueueSummary), json=body)


def create_from_selection(project: str, body: dict[str, Any]) -> Call[QueueSummary]:
    return Call("POST", f"{_base(project)}/select", as_type(QueueSummary), json=body)


def items(project: str, queue: str, status: str | None, offset: int, limit: int) -> Call[ItemPage]:
    params: dict[str, Any] = {"offset": offset, "limit": limit}
    if status is not None:
        params["status"] = status
    return Call("GET", f"{_base(project, queue)}/items", as_type(ItemPage), params=params)


def item(project: str, queue: str, item_id: str) -> Call[ItemView]:
    return Call("GET", f"{_base(project, queue)}/items/{item_id}", as_type(ItemView))


def assign(
    project: str, queue: str, annotators: Sequence[str], item_ids: Sequence[str] | None
) -> Call[AssignOutcome]:
    body = {
        "annotators": list(annotators),
        "item_ids": None if item_ids is None else list(item_ids),
    }
    return Call("POST", f"{_base(project, queue)}/assign", as_type(AssignOutcome), json=body)


def next_item(project: str, queue: str, annotator: str | None) -> Call[Item | None]:
    return Call("POST", f"{_base(project, queue)}/next", _item_of, json={"annotator": annotator})


def submit(
    project: str, queue: str, item_id: str, value: Any, annotator: str | None, comment: str | None
) -> Call[ItemView]:
    body = {"value": value, "annotator": annotator, "comment": comment}
    path = f"{_base(project, queue)}/items/{item_id}/answers"
    return Call("POST", path, as_type(ItemView), json=body)


def skip(
    project: str, queue: str, item_id: str, annotator: str | None, comment: str | None
) -> Call[ItemView]:
    body = {"annotator": annotator, "comment": comment}
    path = f"{_base(project, queue)}/items/{item_id}/skip"
    return Call("POST", path, as_type(ItemView), json=body)


def adjudicate(
    project: str, queue: str, item_id: str, value: Any, reason: str | None
) -> Call[ItemView]:
    path = f"{_base(project, queue)}/items/{item_id}/adjudicate"
    return Call("POST", path, as_type(ItemView), json={"value": value, "reason": reason})


def agreement(project: str, queue: str) -> Call[AgreementReport]:
    return Call("GET", f"{_base(project, queue)}/agreement", as_type(AgreementReport))


def promote(project: str, queue: str, dataset: str | None, message: str) -> Call[PromoteOutcome]:
    body = {"dataset": dataset, "message": message}
    return Call("POST", f"{_base(project, queue)}/promote", as_type(PromoteOutcome), json=body)


def label_errors(project: str, body: dict[str, Any]) -> Call[LabelErrorReport]:
    path = f"{_base(project)}/label-errors"
    return Call("POST", path, as_type(LabelErrorReport), json=body)


def _create_body(
    name: str,
    schema: LabelSchema | dict[str, Any],
    dataset: str | None,
    version: str | None,
    record_ids: Sequence[str] | None,
    trace_ids: Sequence[str] | None,
    required: int,
    description: str,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "schema": _schema(schema),
        "required": required,
        "description": description,
    }
    for key, value in (("dataset", dataset), ("version", version)):
        if value is not None:
            body[key] = value
    if record_ids is not None:
        body["record_ids"] = list(record_ids)
    if trace_ids is not None:
        body["trace_ids"] = list(trace_ids)
    return body


def _selection_body(name: str, dataset: str, **options: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "dataset": dataset}
    for key, value in options.items():
        if key == "schema":
            body[key] = _schema(value)
        elif key in ("probs", "label_matrix", "embeddings"):
            body[key] = _rows(value)
        elif key == "labeled":
            body[key] = [int(i) for i in value]
        else:
            body[key] = value
    return {k: v for k, v in body.items() if v is not None}


def _errors_body(dataset: str, **options: Any) -> dict[str, Any]:
    return {"dataset": dataset, **{k: v for k, v in options.items() if v is not None}}


# ------------------------------------------------------------------------- APIs


class QueuesApi(SyncApi):
    def list(self) -> list[QueueSummary]:
        return self._run(list_queues(self._project))

    def get(self, name: str) -> QueueSummary:
        return self._run(get_queue(self._project, name))

    def create(
        self,
        name: str,
        schema: LabelSchema | dict[str, Any],
        *,
        dataset: str | None = None,
        version: str | None = None,
        record_ids: Sequence[str] | None = None,
        trace_ids: Sequence[str] | None = None,
        required: int = 1,
        description: str = "",
    ) -> QueueSummary:
        """A queue of a dataset version's records (all or ``record_ids``) or of traces."""
        body = _create_body(
            name, schema, dataset, version, record_ids, trace_ids, required, description
        )
        return self._run(create_queue(self._project, body))

    def from_selection(
        self, name: str, dataset: str, schema: LabelSchema | dict[str, Any], **options: Any
    ) -> QueueSummary:
        """Queue what an active-learning strategy picks (``size``, ``strategy``, ``probs``,
        ``embeddings``, ``label_matrix``, ``cardinality``, ``labeled``, ``version`` …)."""
        body = _selection_body(name, dataset, schema=schema, **options)
        return self._run(create_from_selection(self._project, body))

    def items(
        self, name: str, *, status: str | None = None, offset: int = 0, limit: int = 100
    ) -> ItemPage:
        return self._run(items(self._project, name, status, offset, limit))

    def item(self, name: str, item_id: str) -> ItemView:
        return self._run(item(self._project, name, item_id))

    def assign(
        self, name: str, annotators: Sequence[str], item_ids: Sequence[str] | None = None
    ) -> AssignOutcome:
        return self._run(assign(self._project, name, annotators, item_ids))

    def next(self, name: str, annotator: str | None = None) -> Item | None:
        """The annotator's next item (default annotator: the API key's name)."""
        return self._run(next_item(self._project, name, annotator))

    def submit(
        self,
        name: str,
        item_id: str,
        value: Any,
        *,
        annotator: str | None = None,
        comment: str | None = None,
    ) -> ItemView:
        return self._run(submit(self._project, name, item_id, value, annotator, comment))

    def skip(
        self, name: str, item_id: str, *, annotator: str | None = None, comment: str | None = None
    ) -> ItemView:
        return self._run(skip(self._project, name, item_id, annotator, comment))

    def adjudicate(
        self, name: str, item_id: str, value: Any, *, reason: str | None = None
    ) -> ItemView:
        return self._run(adjudicate(self._project, name, item_id, value, reason))

    def agreement(self, name: str) -> AgreementReport:
        return self._run(agreement(self._project, name))

    def promote(
        self, name: str, *, dataset: str | None = None, message: str = ""
    ) -> PromoteOutcome:
        return self._run(promote(self._project, name, dataset, message))

    def label_errors(self, dataset: str, **options: Any) -> LabelErrorReport:
        """Flag likely label errors (``field``, ``text_field``, ``folds``, ``queue`` …)."""
        return self._run(label_errors(self._project, _errors_body(dataset, **options)))


class AsyncQueuesApi(AsyncApi):
    async def list(self) -> list[QueueSummary]:
        return await self._run(list_queues(self._project))

    async def get(self, name: str) -> QueueSummary:
        return await self._run(get_queue(self._project, name))

    async def create(
        self,
        name: str,
        schema: LabelSchema | dict[str, Any],
        *,
        dataset: str | None = None,
        version: str | None = None,
        record_ids: Sequence[str] | None = None,
        trace_ids: Sequence[str] | None = None,
        required: int = 1,
        description: str = "",
    ) -> QueueSummary:
        body = _create_body(
            name, schema, dataset, version, record_ids, trace_ids, required, description
        )
        return await self._run(create_queue(self._project, body))

    async def from_selection(
        self, name: str, dataset: str, schema: LabelSchema | dict[str, Any], **options: Any
    ) -> QueueSummary:
        body = _selection_body(name, dataset, schema=schema, **options)
        return await self._run(create_from_selection(self._project, body))

    async def items(
        self, name: str, *, status: str | None = None, offset: int = 0, limit: int = 100
    ) -> ItemPage:
        return await self._run(items(self._project, name, status, offset, limit))

    async def item(self, name: str, item_id: str) -> ItemView:
        return await self._run(item(self._project, name, item_id))

    async def assign(
        self, name: str, annotators: Sequence[str], item_ids: Sequence[str] | None = None
    ) -> AssignOutcome:
        return await self._run(assign(self._project, name, annotators, item_ids))

    async def next(self, name: str, annotator: str | None = None) -> Item | None:
        return await self._run(next_item(self._project, name, annotator))

    async def submit(
        self,
        name: str,
        item_id: str,
        value: Any,
        *,
        annotator: str | None = None,
        comment: str | None = None,
    ) -> ItemView:
        return await self._run(submit(self._project, name, item_id, value, annotator, comment))

    async def skip(
        self, name: str, item_id: str, *, annotator: str | None = None, comment: str | None = None
    ) -> ItemView:
        return await self._run(skip(self._project, name, item_id, annotator, comment))

    async def adjudicate(
        self, name: str, item_id: str, value: Any, *, reason: str | None = None
    ) -> ItemView:
        return await self._run(adjudicate(self._project, name, item_id, value, reason))

    async def agreement(self, name: str) -> AgreementReport:
        return await self._run(agreement(self._project, name))

    async def promote(
        self, name: str, *, dataset: str | None = None, message: str = ""
    ) -> PromoteOutcome:
        return await self._run(promote(self._project, name, dataset, message))

    async def label_errors(self, dataset: str, **options: Any) -> LabelErrorReport:
        return await self._run(label_errors(self._project, _errors_body(dataset, **options)))
