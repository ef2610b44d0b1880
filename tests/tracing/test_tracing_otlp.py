"""POST /v1/traces with real OTLP bodies: protobuf, JSON, gzip, conventions, bad input."""

from __future__ import annotations

import gzip
import json
import os
import threading

from fastapi.testclient import TestClient
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from otlp_payloads import request
from sqlalchemy import text

from llmloop.runtime import Runtime
from llmloop.store.traces import TraceRepository
from llmloop.tracing.writer import TraceWriter
from support import Tenant, assert_error

PB = {"Content-Type": "application/x-protobuf"}


def post(client: TestClient, tenant: Tenant, body: bytes, role: str = "editor", **headers: str):
    return client.post(
        "/v1/traces", content=body, headers={**PB, **tenant.headers(role), **headers}
    )


def test_protobuf_spans_are_stored_with_genai_fields(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    req, ids = request(
        [
            {"name": "agent", "attributes": {"openinference.span.kind": "AGENT",
                                             "session.id": "s-1", "user.id": "u-1"}},
            {"name": "chat gpt-4o-mini", "parent": 0, "attributes": {
                "gen_ai.operation.name": "chat", "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 500, "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": "hello", "gen_ai.completion.0.content": "hi!"}},
        ]
    )  # fmt: skip
    response = post(client, tenant, req.SerializeToString())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 0

    repo = TraceRepository(runtime.db)
    trace_id = ids[0][0]
    summary = repo.get(tenant.project.id, trace_id)
    assert (summary.name, summary.span_count, summary.service) == ("agent", 2, "svc")
    assert (summary.user_id, summary.session_id, summary.model) == ("u-1", "s-1", "gpt-4o-mini")
    assert (summary.input_tokens, summary.output_tokens) == (1000, 500)
    assert summary.cost_usd is not None and summary.cost_usd > 0
    root, chat = repo.spans(tenant.project.id, trace_id)
    assert (root.kind, chat.kind, chat.provider) == ("agent", "llm", "openai")
    assert chat.parent_span_id == root.span_id
    assert chat.inputs == [{"role": "user", "content": "hello"}]
    assert chat.outputs == [{"content": "hi!"}]
    assert "gen_ai.prompt.0.content" not in chat.attributes  # kept once, as inputs
    assert chat.attributes["gen_ai.request.model"] == "gpt-4o-mini"


def test_openinference_and_openllmetry_names_map_onto_the_same_schema(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    req, ids = request(
        [
            {"name": "oi", "attributes": {
                "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
                "llm.provider": "openai", "llm.token_count.prompt": 7,
                "llm.token_count.completion": 3, "input.value": '{"q": "x"}',
                "output.value": "y", "tag.tags": '["a", "b"]'}},
            {"name": "ollm", "attributes": {
                "traceloop.span.kind": "tool", "llm.usage.prompt_tokens": 2,
                "traceloop.entity.input": "in", "traceloop.entity.output": "out"}},
        ]
    )  # fmt: skip
    assert post(client, tenant, req.SerializeToString()).status_code == 200
    oi, ollm = TraceRepository(runtime.db).spans(tenant.project.id, ids[0][0])
    assert (oi.kind, oi.model, oi.provider, oi.input_tokens, oi.output_tokens) == (
        "llm", "gpt-4o", "openai", 7, 3,
    )  # fmt: skip
    assert (oi.inputs, oi.outputs, oi.tags) == ({"q": "x"}, "y", ["a", "b"])
    assert (ollm.kind, ollm.input_tokens, ollm.inputs, ollm.outputs) == ("tool", 2, "in", "out")


def test_json_and_gzip_bodies_are_accepted(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    trace_hex, span_hex = os.urandom(16).hex(), os.urandom(8).hex()
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": trace_hex, "spanId": span_hex, "name": "json-span", "kind": 1,
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
        "attributes": [
            {"key": "n", "value": {"intValue": "5"}},
            {"key": "odd", "value": {"futureValue": {"x": 1}}},
            {"key": "list", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}},
        ]}]}]}]}  # fmt: skip
    raw = json.dumps(body).encode()
    response = post(client, tenant, gzip.compress(raw), **{
        "Content-Type": "application/json", "Content-Encoding": "gzip"})  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    [span] = TraceRepository(runtime.db).spans(tenant.project.id, trace_hex)
    assert (span.span_id, span.name, span.duration_ms) == (span_hex, "json-span", 1000.0)
    assert span.attributes["n"] == 5
    assert span.attributes["list"] == ["a"]
    assert span.attributes["odd"] == '{"futureValue": {"x": 1}}'  # unknown type: as text


def test_malformed_bodies_answer_400_with_the_reason(client: TestClient, tenant: Tenant) -> None:
    cases = [
        (b"\xff\xff\xff", PB, "malformed OTLP protobuf"),
        (b"{not json", {"Content-Type": "application/json"}, "malformed OTLP JSON"),
        (b'{"resourceSpans": 3}', {"Content-Type": "application/json"}, "malformed OTLP JSON"),
        (b"abc", {**PB, "Content-Encoding": "gzip"}, "not valid gzip"),
        (b"abc", {"Content-Type": "text/plain"}, "unsupported Content-Type"),
        (b"abc", {**PB, "Content-Encoding": "br"}, "unsupported Content-Encoding"),
    ]
    for body, headers, reason in cases:
        error = assert_error(post(client, tenant, body, **headers), 400, "bad_request")
        assert reason in error["message"], (reason, error)


def test_json_with_bad_hex_id_is_rejected(client: TestClient, tenant: Tenant) -> None:
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "01"}]}]}]}
    response = post(
        client, tenant, json.dumps(body).encode(), **{"Content-Type": "application/json"}
    )
    assert "is not hex" in assert_error(response, 400, "bad_request")["message"]


def test_spans_with_bad_ids_are_rejected_alone(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    req, _ = request([{"name": "good"}, {"name": "bad", "span_id": b"\x00" * 8}])
    response = post(client, tenant, req.SerializeToString())
    assert response.status_code == 200
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 1
    assert "span_id" in answer.partial_success.error_message
    assert TraceRepository(runtime.db).count_spans(tenant.project.id) == 1


def test_end_before_start_is_stored_and_flagged(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    req, ids = request([{"name": "backwards", "start": 2_000_000_000, "end": 1_000_000_000}])
    assert post(client, tenant, req.SerializeToString()).status_code == 200
    [span] = TraceRepository(runtime.db).spans(tenant.project.id, ids[0][0])
    assert span.flags == ["end_before_start"]
    assert span.duration_ms == 0


def test_oversized_bodies_answer_413(client: TestClient, tenant: Tenant, runtime: Runtime) -> None:
    limit = runtime.settings.max_request_bytes
    assert_error(post(client, tenant, b"\0" * (limit + 1)), 413, "request_too_large")
    bomb = gzip.compress(b"\0" * (limit + 10))  # small on the wire, too big inflated
    assert len(bomb) < limit
    response = post(client, tenant, bomb, **{"Content-Encoding": "gzip"})
    assert_error(response, 413, "request_too_large")


def test_keys_that_may_not_write_are_refused(client: TestClient, tenant: Tenant) -> None:
    body = request([{"name": "x"}])[0].SerializeToString()
    assert_error(client.post("/v1/traces", content=body, headers=PB), 401, "unauthenticated")
    assert_error(post(client, tenant, body, role="viewer"), 403, "forbidden")
    response = client.post("/v1/traces", content=body, headers={**PB, **tenant.public_headers})
    assert "public" in assert_error(response, 403, "forbidden")["message"]


def test_duplicate_exports_are_idempotent(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    body = request([{"name": "a"}, {"name": "b", "parent": 0}])[0].SerializeToString()
    for _ in range(3):
        assert post(client, tenant, body).status_code == 200
    repo = TraceRepository(runtime.db)
    assert repo.count_spans(tenant.project.id) == 2
    [summary] = repo.list(tenant.project.id)
    assert summary.span_count == 2


def test_full_queue_answers_503_with_retry_after(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    writer = TraceWriter(TraceRepository(runtime.db), max_pending_spans=3)
    client.app.state.trace_writer = writer  # type: ignore[attr-defined]
    first = request([{"name": "a"}, {"name": "b"}])[0].SerializeToString()
    second = request([{"name": "c"}, {"name": "d"}])[0].SerializeToString()
    results: list[int] = []
    assert post(client, tenant, b"").status_code == 200  # the key's last-use write, done now
    with runtime.db.begin() as conn:  # hold the write lock so the first batch waits
        if runtime.db.dialect == "postgresql":
            conn.execute(text("LOCK TABLE spans IN EXCLUSIVE MODE"))
        waiting = threading.Thread(
            target=lambda: results.append(post(client, tenant, first).status_code)
        )
        waiting.start()
        for _ in range(1000):
            if writer.pending_spans:
                break
            threading.Event().wait(0.01)
        response = post(client, tenant, second)
        error = assert_error(response, 503, "unavailable")
        assert "queue is full" in error["message"]
        assert response.headers["retry-after"] == "1"
    waiting.join(30)
    assert results == [200]
    writer.close()
    assert TraceRepository(runtime.db).count_spans(tenant.project.id) == 2


def test_json_answer_reports_partial_success(client: TestClient, tenant: Tenant) -> None:
    req, _ = request([{"name": "bad", "trace_id": b"\x00" * 16}])
    body = json_format.MessageToJson(req).encode()  # base64 ids: decoded as hex fails
    response = post(client, tenant, body, **{"Content-Type": "application/json"})
    assert response.status_code == 400
