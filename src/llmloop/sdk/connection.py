"""Where the SDK's requests go: a server with a bearer key, or the in-process local app."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from llmloop.errors import AuthenticationError
from llmloop.runtime import Runtime
from llmloop.server.app import create_app
from llmloop.server.deps import get_principal
from llmloop.settings import Settings

LOCAL_BASE_URL = "http://llmloop.local"


@dataclass(frozen=True, slots=True)
class Remote:
    base_url: str
    headers: dict[str, str]
    project: str | None


@dataclass(frozen=True, slots=True)
class Local:
    runtime: Runtime
    app: FastAPI
    project: str


def resolve(
    settings: Settings, server_url: str | None, api_key: str | None, project: str | None
) -> Remote | Local:
    """A server when one is named (argument or ``LLMLOOP_SERVER_URL``), else the local store."""
    server_url = server_url or settings.server_url
    if server_url:
        key = api_key or settings.api_key
        if not key:
            raise AuthenticationError(
                f"connecting to {server_url} needs an API key: pass api_key= or set LLMLOOP_API_KEY"
            )
        return Remote(server_url.rstrip("/"), {"Authorization": f"Bearer {key}"}, project)
    runtime = Runtime(settings)
    try:
        principal = runtime.tenancy.local_principal(project or settings.project)
    except BaseException:
        runtime.close()
        raise
    app = create_app(runtime)
    app.dependency_overrides[get_principal] = lambda: principal
    return Local(runtime, app, principal.project.name)
