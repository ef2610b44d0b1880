"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from llmloop import __version__
from llmloop.server.deps import RuntimeDep
from llmloop.store.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process answers.")
def health() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@router.get("/ready", summary="Readiness: the database answers and is migrated.")
def ready(runtime: RuntimeDep) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        with runtime.db.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
        current, head = current_revision(runtime.db), head_revision()
        checks["schema"] = "ok" if current == head else f"at {current}, code expects {head}"
    except Exception as exc:  # any failure means not ready; say which
        checks["database"] = f"error: {type(exc).__name__}: {exc}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503
    )
