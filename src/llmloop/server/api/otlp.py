"""``POST /v1/traces``: the OTLP/HTTP trace receiver (protobuf or JSON, gzip).

Authenticated with the same bearer keys as the REST API; spans go to the key's project.
The answer is sent only once the spans are committed (see :mod:`llmloop.tracing.writer`
for the durability design); a full queue answers 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import threading

from fastapi import APIRouter, FastAPI, Request, Response
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from starlette.concurrency import run_in_threadpool

from llmloop.runtime import Runtime
from llmloop.server.deps import Editor, RuntimeDep
from llmloop.server.errors import error_response
from llmloop.store.traces import TraceRepository
from llmloop.tracing import otlp
from llmloop.tracing.writer import TraceWriter, WriterBusy

router = APIRouter(tags=["otlp"])
_writer_lock = threading.Lock()


def trace_writer(request: Request, runtime: Runtime) -> TraceWriter:
    """The app's one writer, made on first use."""
    return trace_writer_for(request.app, runtime)


def trace_writer_for(app: FastAPI, runtime: Runtime) -> TraceWriter:
    """The app's one writer (shared by OTLP ingestion and the gateway), made on first use."""
    state = app.state
    with _writer_lock:
        writer: TraceWriter | None = getattr(state, "trace_writer", None)
        if writer is None:
            writer = TraceWriter(TraceRepository(runtime.db))
            state.trace_writer = writer
        return writer


@router.post(
    "/v1/traces",
    summary="OTLP/HTTP trace export (application/x-protobuf or application/json).",
    responses={400: {"description": "Malformed body"}, 503: {"description": "Queue full"}},
)
async def export_traces(request: Request, principal: Editor, runtime: RuntimeDep) -> Response:
    body = await request.body()
    content_type = request.headers.get("content-type")
    decoded = await run_in_threadpool(
        otlp.parse,
        body,
        content_type=content_type,
        content_encoding=request.headers.get("content-encoding"),
        max_bytes=runtime.settings.max_request_bytes,
    )
    try:
        future = trace_writer(request, runtime).submit(principal.project.id, decoded.spans)
    except WriterBusy as exc:
        headers = {"Retry-After": str(exc.retry_after_s)}
        return error_response(503, exc.code, exc.message, headers=headers)
    await asyncio.wrap_future(future)
    answer = ExportTraceServiceResponse()
    if decoded.rejected:
        answer.partial_success.rejected_spans = decoded.rejected
        answer.partial_success.error_message = decoded.error_message
    if (content_type or "").startswith(otlp.JSON):
        text = json_format.MessageToJson(answer, indent=None)
        return Response(text, media_type=otlp.JSON)
    return Response(answer.SerializeToString(), media_type=otlp.PROTOBUF)
