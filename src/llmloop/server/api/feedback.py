"""End-user feedback from browser apps: thumbs, ratings or labels on a trace, as scores.

A public ingestion key (``llpk_…``) may call this route and nothing else; a project key
with the editor role may call it too. Feedback is stored as a score on the trace (or
one of its spans) with the source ``user`` (``user:<user id>`` when one is given).
Requests are rate limited per key and client address, in this process (see
:class:`RateLimiter`); CORS for this path is in :mod:`llmloop.server.cors`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from starlette.exceptions import HTTPException

from llmloop.records import Role, Score
from llmloop.server.deps import PrincipalDep, ProjectDep, RuntimeDep
from llmloop.tenancy import Principal
from llmloop.tracing.service import TraceService

router = APIRouter(tags=["feedback"])
MAX_TRACKED = 10_000  # (key, address) buckets kept; the least recently used are dropped

Label = Annotated[str, StringConstraints(min_length=1, max_length=200)]
FeedbackValue = bool | int | Annotated[float, Field(allow_inf_nan=False)] | Label


class FeedbackCreate(BaseModel):
    """What a browser app sends when its user reacts to an answer."""

    model_config = ConfigDict(extra="forbid")

    trace_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="The trace of the answer.")
    span_id: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{16}$", description="A span of it, to be precise."
    )
    name: str = Field(
        default="feedback", min_length=1, max_length=200, examples=["thumbs", "rating"]
    )
    value: FeedbackValue = Field(
        description="true/false (thumbs up/down), a number (rating) or a label (category)."
    )
    comment: str | None = Field(default=None, max_length=5000)
    user_id: str | None = Field(default=None, min_length=1, max_length=190)

    @field_validator("trace_id", "span_id", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("user_id", "name")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and not value.isprintable():
            raise ValueError("must be printable text (no control characters)")
        return value

    def to_score(self) -> Score:
        kind: Literal["trace", "span"] = "span" if self.span_id else "trace"
        return Score(
            target_kind=kind,
            target_id=self.span_id or self.trace_id,
            name=self.name,
            value=self.value,
            rationale=self.comment,
            source=f"user:{self.user_id}" if self.user_id else "user",
        )


class RateLimiter:
    """A token bucket per (key, client address): ``per_minute`` requests, refilled evenly.

    Kept in this process's memory, so each server replica counts on its own; behind a
    proxy run uvicorn with ``--proxy-headers`` so the address is the browser's.
    """

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()
        self.lock = threading.Lock()

    def wait_s(self, key: tuple[str, str], now: float | None = None) -> float:
        """Take one token; return 0 when allowed, else the seconds until one is free."""
        now = time.monotonic() if now is None else now
        with self.lock:
            tokens, seen = self.buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - seen) * self.rate)
            allowed = tokens >= 1.0
            self.buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            while len(self.buckets) > MAX_TRACKED:
                self.buckets.popitem(last=False)
        return 0.0 if allowed else (1.0 - tokens) / self.rate


def _limiter(request: Request, runtime: RuntimeDep) -> RateLimiter | None:
    per_minute = runtime.settings.feedback_per_minute
    if per_minute == 0:
        return None
    limiter: RateLimiter | None = getattr(request.app.state, "feedback_limiter", None)
    if limiter is None:
        limiter = request.app.state.feedback_limiter = RateLimiter(per_minute)
    return limiter


def feedback_sender(
    request: Request,
    principal: PrincipalDep,
    limiter: Annotated[RateLimiter | None, Depends(_limiter)],
) -> Principal:
    """A public key, or a project key allowed to write (editor or admin); rate limited."""
    if not principal.public:
        principal.require(Role.editor)
    if limiter is not None:
        key = principal.key.id if principal.key else principal.actor
        address = request.client.host if request.client else "-"
        wait = limiter.wait_s((key, address))
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            raise HTTPException(
                429,
                f"too much feedback from this key and address; retry in {retry} s "
                f"(limit {limiter.capacity:.0f}/minute, LLMLOOP_FEEDBACK_PER_MINUTE)",
                headers={"Retry-After": retry},
            )
    return principal


FeedbackSender = Annotated[Principal, Depends(feedback_sender)]


@router.post(
    "/projects/{project}/feedback",
    status_code=201,
    summary="End-user feedback on a trace (public ingestion keys may call this, and only this).",
)
def post_feedback(
    body: FeedbackCreate, project: ProjectDep, _: FeedbackSender, runtime: RuntimeDep
) -> Score:
    return TraceService(runtime.db).add_score(project.id, body.trace_id, body.to_score())
