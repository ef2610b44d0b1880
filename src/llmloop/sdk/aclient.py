"""``llmloop.aconnect()``: the asyncio twin of :func:`llmloop.connect`.

The same operations (see :mod:`llmloop.sdk.calls`), awaited; use it to run many model
calls concurrently or from async applications.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import httpx
import numpy as np
import pandas as pd

from llmloop.providers.base import ChatResponse, ModelInfo
from llmloop.records import ApiKey, AuditEvent, Project, Role
from llmloop.runtime import Runtime
from llmloop.sdk import calls
from llmloop.sdk.annotations import AsyncQueuesApi
from llmloop.sdk.base import AsyncApi, Call, to_frame
from llmloop.sdk.calls import Messages
from llmloop.sdk.connection import LOCAL_BASE_URL, Local, resolve
from llmloop.sdk.datasets import AsyncDatasetsApi
from llmloop.sdk.deployments import AsyncDeploymentsApi
from llmloop.sdk.evaluations import AsyncEvaluationsApi
from llmloop.sdk.experiments import AsyncExperimentsApi
from llmloop.sdk.labeling import AsyncLabelingApi
from llmloop.sdk.prompts import AsyncPromptsApi
from llmloop.sdk.suites import AsyncSuitesApi
from llmloop.sdk.traces import AsyncTracesApi
from llmloop.sdk.transport import raise_for_error
from llmloop.settings import Settings, load_settings

T = TypeVar("T")


class AsyncProjectsApi(AsyncApi):
    async def list(self) -> list[Project]:
        return await self._run(calls.list_projects())

    async def get(self, name_or_id: str | None = None) -> Project:
        return await self._run(calls.get_project(name_or_id or self._project))

    async def create(self, name: str, description: str = "") -> tuple[Project, str]:
        return await self._run(calls.create_project(name, description))

    async def overview(self) -> dict[str, Any]:
        return await self._run(calls.project_overview(self._project))


class AsyncKeysApi(AsyncApi):
    async def list(self) -> list[ApiKey]:
        return await self._run(calls.list_keys(self._project))

    async def create(
        self, name: str, role: Role | str = Role.viewer, *, public: bool = False
    ) -> tuple[ApiKey, str]:
        return await self._run(calls.create_key(self._project, name, role, public))

    async def revoke(self, key_id: str, reason: str | None = None) -> ApiKey:
        return await self._run(calls.revoke_key(self._project, key_id, reason))


class AsyncAuditApi(AsyncApi):
    async def list(
        self, *, object_type: str | None = None, object_id: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        call = calls.list_audit(self._project, object_type, object_id, limit)
        return await self._run(call)

    async def to_pandas(self, **filters: Any) -> pd.DataFrame:
        return to_frame(await self.list(**filters))


class AsyncModelsApi(AsyncApi):
    async def list(self) -> list[ModelInfo]:
        return await self._run(calls.list_models())

    async def chat(self, model: str, messages: Messages, **params: Any) -> ChatResponse:
        return await self._run(calls.chat(model, messages, params))

    async def embed(self, model: str, texts: Sequence[str]) -> np.ndarray:
        return await self._run(calls.embed(model, texts))


class AsyncClient:
    """The asyncio SDK client. Prefer :func:`aconnect`."""

    def __init__(
        self, http: httpx.AsyncClient, project: str, *, runtime: Runtime | None = None
    ) -> None:
        self._http = http
        self._runtime = runtime
        self.project = project
        self.projects = AsyncProjectsApi(self)
        self.keys = AsyncKeysApi(self)
        self.audit = AsyncAuditApi(self)
        self.models = AsyncModelsApi(self)
        self.traces = AsyncTracesApi(self)
        self.evaluations = AsyncEvaluationsApi(self)
        self.experiments = AsyncExperimentsApi(self)
        self.suites = AsyncSuitesApi(self)
        self.datasets = AsyncDatasetsApi(self)
        self.labeling = AsyncLabelingApi(self)
        self.prompts = AsyncPromptsApi(self)
        self.deployments = AsyncDeploymentsApi(self)
        self.queues = AsyncQueuesApi(self)

    @property
    def is_local(self) -> bool:
        return self._runtime is not None

    async def run(self, call: Call[T]) -> T:
        response = await self._http.request(call.method, call.path, **call.request_kwargs())
        raise_for_error(response)
        return call.parse(response.json() if response.content else None)

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._runtime is not None:
            await self._runtime.providers.aclose()
            self._runtime.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        where = "local store" if self.is_local else str(self._http.base_url)
        return f"<llmloop.AsyncClient project={self.project!r} at {where}>"


async def aconnect(
    server_url: str | None = None,
    *,
    api_key: str | None = None,
    project: str | None = None,
    settings: Settings | None = None,
) -> AsyncClient:
    """Async :func:`llmloop.connect`: a server, or the local store served in-process."""
    settings = settings or load_settings()
    target = resolve(settings, server_url, api_key, project)
    if isinstance(target, Local):
        http = httpx.AsyncClient(
            base_url=LOCAL_BASE_URL,
            transport=httpx.ASGITransport(app=target.app),
            timeout=settings.request_timeout_s,
        )
        return AsyncClient(http, target.project, runtime=target.runtime)
    http = httpx.AsyncClient(
        base_url=target.base_url, headers=target.headers, timeout=settings.request_timeout_s
    )
    client = AsyncClient(http, target.project or "")
    if not target.project:
        try:
            client.project = (await client.projects.list())[0].id
        except BaseException:
            await client.aclose()
            raise
    return client
