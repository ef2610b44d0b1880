"""The foundation's SDK operations: projects, keys, audit log, models.

Each is written once as a :class:`~llmloop.sdk.base.Call`; the sync and async clients
only run them, so both stay identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from llmloop.providers.base import ChatResponse, Message, ModelInfo
from llmloop.records import ApiKey, AuditEvent, Project, Role
from llmloop.sdk.base import Call, as_type

Messages = str | Sequence[Message | dict[str, Any]]


def _project(project: str) -> str:
    return f"/api/v1/projects/{project}"


# ------------------------------------------------------------------------- projects


def list_projects() -> Call[list[Project]]:
    return Call("GET", "/api/v1/projects", as_type(list[Project]))


def get_project(name_or_id: str) -> Call[Project]:
    return Call("GET", _project(name_or_id), as_type(Project))


def create_project(name: str, description: str) -> Call[tuple[Project, str]]:
    def parse(data: Any) -> tuple[Project, str]:
        return Project.model_validate(data["project"]), str(data["secret"])

    return Call("POST", "/api/v1/projects", parse, json={"name": name, "description": description})


def project_overview(project: str) -> Call[dict[str, Any]]:
    return Call("GET", f"{_project(project)}/overview", as_type(dict[str, Any]))


# ------------------------------------------------------------------------- keys


def list_keys(project: str) -> Call[list[ApiKey]]:
    return Call("GET", f"{_project(project)}/keys", as_type(list[ApiKey]))


def create_key(project: str, name: str, role: Role | str, public: bool) -> Call[tuple[ApiKey, str]]:
    def parse(data: Any) -> tuple[ApiKey, str]:
        return ApiKey.model_validate(data["key"]), str(data["secret"])

    body = {"name": name, "role": str(role), "public": public}
    return Call("POST", f"{_project(project)}/keys", parse, json=body)


def revoke_key(project: str, key_id: str, reason: str | None) -> Call[ApiKey]:
    path = f"{_project(project)}/keys/{key_id}/revoke"
    return Call("POST", path, as_type(ApiKey), json={"reason": reason})


# ------------------------------------------------------------------------- audit


def list_audit(
    project: str, object_type: str | None, object_id: str | None, limit: int
) -> Call[list[AuditEvent]]:
    params = {"object_type": object_type, "object_id": object_id, "limit": limit}
    return Call(
        "GET",
        f"{_project(project)}/audit",
        as_type(list[AuditEvent]),
        params={k: v for k, v in params.items() if v is not None},
    )


# ------------------------------------------------------------------------- models


def list_models() -> Call[list[ModelInfo]]:
    models = as_type(list[ModelInfo])
    return Call("GET", "/api/v1/models", lambda data: models(data["models"]))


def chat(model: str, messages: Messages, params: dict[str, Any]) -> Call[ChatResponse]:
    body = {"model": model, "messages": _messages(messages), "params": params}
    return Call("POST", "/api/v1/models/chat", as_type(ChatResponse), json=body)


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
