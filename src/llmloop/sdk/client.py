"""``llmloop.connect()``: the SDK client.

The client speaks the REST API. With ``LLMLOOP_SERVER_URL`` (or ``server_url=``) it talks
to that server with a bearer key; without one it opens the local store and serves the
same API in-process as the local admin user, so both modes behave the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import httpx
import numpy as np
import pandas as pd
from pydantic import BaseModel, TypeAdapter

from llmloop.errors import AuthenticationError
from llmloop.providers.base import ChatResponse, Message, ModelInfo
from llmloop.records import ApiKey, AuditEvent, Project, Role
from llmloop.runtime import Runtime
from llmloop.sdk.transport import InProcessTransport, raise_for_error
from llmloop.server.app import create_app
from llmloop.server.deps import get_principal
from llmloop.settings import Settings, load_settings

T = TypeVar("T")
LOCAL_BASE_URL = "http://llmloop.local"


def to_frame(items: Iterable[BaseModel]) -> pd.DataFrame:
    """A DataFrame with one row per item and one column per field."""
    return pd.DataFrame([item.model_dump(mode="python") for item in items])


class _Api:
    def __init__(self, client: Client) -> None:
        self._client = client

    def _call(self, method: str, path: str, type_: Any, **kwargs: Any) -> Any:
        data = self._client.request(method, path, **kwargs)
        return TypeAdapter(type_).validate_python(data)

    @property
    def _project_path(self) -> str:
        return f"/api/v1/projects/{self._client.project}"


class ProjectsApi(_Api):
    def list(self) -> list[Project]:
        return self._call("GET", "/api/v1/projects", list[Project])

    def get(self, name_or_id: str | None = None) -> Project:
        return self._call("GET", f"/api/v1/projects/{name_or_id or self._client.project}", Project)

    def create(self, name: str, description: str = "") -> tuple[Project, str]:
        """Create a project; return it with its first admin key's secret (shown once)."""
        data = self._client.request(
            "POST", "/api/v1/projects", json={"name": name, "description": description}
        )
        return Project.model_validate(data["project"]), str(data["secret"])

    def overview(self) -> dict[str, Any]:
        data: dict[str, Any] = self._client.request("GET", f"{self._project_path}/overview")
        return data


class KeysApi(_Api):
    def list(self) -> list[ApiKey]:
        return self._call("GET", f"{self._project_path}/keys", list[ApiKey])

    def create(
        self, name: str, role: Role | str = Role.viewer, *, public: bool = False
    ) -> tuple[ApiKey, str]:
        """Issue a key; return it with its secret, which is never shown again."""
        data = self._client.request(
            "POST",
            f"{self._project_path}/keys",
            json={"name": name, "role": str(role), "public": public},
        )
        return ApiKey.model_validate(data["key"]), str(data["secret"])

    def revoke(self, key_id: str, reason: str | None = None) -> ApiKey:
        return self._call(
            "POST", f"{self._project_path}/keys/{key_id}/revoke", ApiKey, json={"reason": reason}
        )


class AuditApi(_Api):
    def list(
        self, *, object_type: str | None = None, object_id: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        params = {"object_type": object_type, "object_id": object_id, "limit": limit}
        return self._call(
            "GET",
            f"{self._project_path}/audit",
            list[AuditEvent],
            params={k: v for k, v in params.items() if v is not None},
        )

    def to_pandas(self, **filters: Any) -> pd.DataFrame:
        return to_frame(self.list(**filters))


class ModelsApi(_Api):
    def list(self) -> list[ModelInfo]:
        data = self._client.request("GET", "/api/v1/models")
        return TypeAdapter(list[ModelInfo]).validate_python(data["models"])

    def chat(
        self, model: str, messages: str | Sequence[Message | dict[str, Any]], **params: Any
    ) -> ChatResponse:
        """Call a model; ``messages`` may be a plain user prompt."""
        body = {"model": model, "messages": _messages(messages), "params": params}
        return self._call("POST", "/api/v1/models/chat", ChatResponse, json=body)

    def embed(self, model: str, texts: Sequence[str]) -> np.ndarray:
        data = self._client.request(
            "POST", "/api/v1/models/embed", json={"model": model, "input": list(texts)}
        )
        return np.asarray(data["vectors"], dtype=np.float32)


def _messages(messages: str | Sequence[Message | dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [
        m.model_dump(exclude_none=True) if isinstance(m, Message) else dict(m) for m in messages
    ]


class Client:
    """The SDK entry point. Prefer :func:`connect`."""

    def __init__(self, http: httpx.Client, project: str, *, runtime: Runtime | None = None) -> None:
        self._http = http
        self._runtime = runtime
        self.project = project
        self.projects = ProjectsApi(self)
        self.keys = KeysApi(self)
        self.audit = AuditApi(self)
        self.models = ModelsApi(self)

    @property
    def is_local(self) -> bool:
        return self._runtime is not None

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        raise_for_error(response)
        return response.json() if response.content else None

    def close(self) -> None:
        self._http.close()
        if self._runtime is not None:
            self._runtime.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "local store" if self.is_local else self.base_url
        return f"<llmloop.Client project={self.project!r} at {where}>"


def connect(
    server_url: str | None = None,
    *,
    api_key: str | None = None,
    project: str | None = None,
    settings: Settings | None = None,
) -> Client:
    """Connect to a server (``server_url`` / ``LLMLOOP_SERVER_URL``) or the local store."""
    settings = settings or load_settings()
    server_url = server_url or settings.server_url
    if server_url:
        key = api_key or settings.api_key
        if not key:
            raise AuthenticationError(
                f"connecting to {server_url} needs an API key: pass api_key= or set LLMLOOP_API_KEY"
            )
        http = httpx.Client(
            base_url=server_url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}"},
            timeout=settings.request_timeout_s,
        )
        client = Client(http, project or "")
        client.project = project or client.projects.list()[0].id
        return client
    return _connect_local(settings, project or settings.project)


def _connect_local(settings: Settings, project: str) -> Client:
    runtime = Runtime(settings)
    principal = runtime.tenancy.local_principal(project)
    app = create_app(runtime)
    app.dependency_overrides[get_principal] = lambda: principal
    http = httpx.Client(
        base_url=LOCAL_BASE_URL,
        transport=InProcessTransport(app, on_close=runtime.providers.aclose),
        timeout=settings.request_timeout_s,
    )
    return Client(http, principal.project.name, runtime=runtime)
