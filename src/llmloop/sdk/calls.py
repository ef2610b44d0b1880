"""Every SDK operation written once: its HTTP request and how to read the answer.

The sync :class:`~llmloop.sdk.client.Client` and the async
:class:`~llmloop.sdk.aclient.AsyncClient` only run these, so both stay identical.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
from pydantic import TypeAdapter

from llmloop.providers.base import ChatResponse, Message, ModelInfo
from llmloop.records import ApiKey, AuditEvent, Project, Role

T = TypeVar("T")

Messages = str | Sequence[Message | dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)

    def request_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.json is not None:
            kwargs["json"] = self.json
        if self.params:
            kwargs["params"] = self.params
        return kwargs


def _as(type_: Any) -> Callable[[Any], Any]:
    adapter = TypeAdapter(type_)
    return adapter.validate_python


def _project(project: str) -> str:
    return f"/api/v1/projects/{project}"


# ------------------------------------------------------------------------- projects


def list_projects() -> Call[list[Project]]:
    return Call("GET", "/api/v1/projects", _as(list[Project]))


def get_project(name_or_id: str) -> Call[Project]:
    return Call("GET", _project(name_or_id), _as(Project))


def create_project(name: str, description: str) -> Call[tuple[Project, str]]:
    def parse(data: Any) -> tuple[Project, str]:
        return Project.model_validate(data["project"]), str(data["secret"])

    return Call("POST", "/api/v1/projects", parse, json={"name": name, "description": description})


def project_overview(project: str) -> Call[dict[str, Any]]:
    return Call("GET", f"{_project(project)}/overview", _as(dict[str, Any]))


# ------------------------------------------------------------------------- keys


def list_keys(project: str) -> Call[list[ApiKey]]:
    return Call("GET", f"{_project(project)}/keys", _as(list[ApiKey]))


def create_key(project: str, name: str, role: Role | str, public: bool) -> Call[tuple[ApiKey, str]]:
    def parse(data: Any) -> tuple[ApiKey, str]:
        return ApiKey.model_validate(data["key"]), str(data["secret"])

    body = {"name": name, "role": str(role), "public": public}
    return Call("POST", f"{_project(project)}/keys", parse, json=body)


def revoke_key(project: str, key_id: str, reason: str | None) -> Call[ApiKey]:
    path = f"{_project(project)}/keys/{key_id}/revoke"
    return Call("POST", path, _as(ApiKey), json={"reason": reason})


# ------------------------------------------------------------------------- audit


def list_audit(
    project: str, object_type: str | None, object_id: str | None, limit: int
) -> Call[list[AuditEvent]]:
    params = {"object_type": object_type, "object_id": object_id, "limit": limit}
    return Call(
        "GET",
        f"{_project(project)}/audit",
        _as(list[AuditEvent]),
        params={k: v for k, v in params.items() if v is not None},
    )


# ------------------------------------------------------------------------- models


def list_models() -> Call[list[ModelInfo]]:
    models = _as(list[ModelInfo])
    return Call("GET", "/api/v1/models", lambda data: models(data["models"]))


def chat(model: str, messages: Messages, params: dict[str, Any]) -> Call[ChatResponse]:
    body = {"model": model, "messages": _messages(messages), "params": params}
    return Call("POST", "/api/v1/models/chat", _as(ChatResponse), json=body)


def embed(model: str, texts: Sequence[str]) -> Call[np.ndarray]:
    def parse(data: Any) -> np.ndarray:
        return np.asarray(data["vectors"], dtype=np.float32)

    body = {"model": model, "input": [texts] if isinstance(texts, str) else list(texts)}
    return Call("POST", "/api/v1/models/embed", parse, json=body)


def _messages(messages: Messages) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [
        m.model_dump(exclude_none=True) if isinstance(m, Message) else dict(m) for m in messages
    ]
