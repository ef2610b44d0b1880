"""``llmloop.connect()``: the synchronous SDK client.

The client speaks the REST API. With ``LLMLOOP_SERVER_URL`` (or ``server_url=``) it talks
to that server with a bearer key; without one it opens the local store and serves the
same API in-process as the local admin user, so both modes behave the same. The async
twin is :func:`llmloop.aconnect`.
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
from llmloop.sdk.annotations import QueuesApi
from llmloop.sdk.base import Call, SyncApi, to_frame
from llmloop.sdk.calls import Messages
from llmloop.sdk.connection import LOCAL_BASE_URL, Local, resolve
from llmloop.sdk.datasets import DatasetsApi
from llmloop.sdk.deployments import DeploymentsApi
from llmloop.sdk.evaluations import EvaluationsApi
from llmloop.sdk.experiments import ExperimentsApi
from llmloop.sdk.labeling import LabelingApi
from llmloop.sdk.prompts import PromptsApi
from llmloop.sdk.suites import SuitesApi
from llmloop.sdk.traces import TracesApi
from llmloop.sdk.transport import InProcessTransport, raise_for_error
from llmloop.settings import Settings, load_settings

T = TypeVar("T")


class ProjectsApi(SyncApi):
    def list(self) -> list[Project]:
        return self._run(calls.list_projects())

    def get(self, name_or_id: str | None = None) -> Project:
        return self._run(calls.get_project(name_or_id or self._project))

    def create(self, name: str, description: str = "") -> tuple[Project, str]:
        """Create a project; return it with its first admin key's secret (shown once)."""
        return self._run(calls.create_project(name, description))

    def overview(self) -> dict[str, Any]:
        return self._run(calls.project_overview(self._project))


class KeysApi(SyncApi):
    def list(self) -> list[ApiKey]:
        return self._run(calls.list_keys(self._project))

    def create(
        self, name: str, role: Role | str = Role.viewer, *, public: bool = False
    ) -> tuple[ApiKey, str]:
        """Issue a key; return it with its secret, which is never shown again."""
        return self._run(calls.create_key(self._project, name, role, public))

    def revoke(self, key_id: str, reason: str | None = None) -> ApiKey:
        return self._run(calls.revoke_key(self._project, key_id, reason))


class AuditApi(SyncApi):
    def list(
        self, *, object_type: str | None = None, object_id: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        return self._run(calls.list_audit(self._project, object_type, object_id, limit))

    def to_pandas(self, **filters: Any) -> pd.DataFrame:
        return to_frame(self.list(**filters))


class ModelsApi(SyncApi):
    def list(self) -> list[ModelInfo]:
        return self._run(calls.list_models())

    def chat(self, model: str, messages: Messages, **params: Any) -> ChatResponse:
        """Call a model; ``messages`` may be a plain user prompt."""
        return self._run(calls.chat(model, messages, params))

    def embed(self, model: str, texts: Sequence[str]) -> np.ndarray:
        """Vectors as a float32 array, one row per text."""
        return self._run(calls.embed(model, texts))


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
        self.traces = TracesApi(self)
        self.evaluations = EvaluationsApi(self)
        self.experiments = ExperimentsApi(self)
        self.suites = SuitesApi(self)
        self.datasets = DatasetsApi(self)
        self.labeling = LabelingApi(self)
        self.prompts = PromptsApi(self)
        self.deployments = DeploymentsApi(self)
        self.queues = QueuesApi(self)

    @property
    def is_local(self) -> bool:
        return self._runtime is not None

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    def run(self, call: Call[T]) -> T:
        response = self._http.request(call.method, call.path, **call.request_kwargs())
        raise_for_error(response)
        return call.parse(response.json() if response.content else None)

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
    target = resolve(settings, server_url, api_key, project)
    if isinstance(target, Local):
        http = httpx.Client(
            base_url=LOCAL_BASE_URL,
            transport=InProcessTransport(target.app, on_close=target.runtime.providers.aclose),
            timeout=settings.request_timeout_s,
        )
        return Client(http, target.project, runtime=target.runtime)
    http = httpx.Client(
        base_url=target.base_url, headers=target.headers, timeout=settings.request_timeout_s
    )
    client = Client(http, target.project or "")
    if not target.project:
        try:
            client.project = client.projects.list()[0].id
        except BaseException:
            client.close()
            raise
    return client
