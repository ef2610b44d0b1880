"""The OTLP receiver's fast path: plain ASGI ahead of the middleware, cached keys, and a
one-pass attribute mapping that must agree with :func:`conventions.extract`."""

from __future__ import annotations

import os
import time

from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from otlp_payloads import kv, request

from llmloop.runtime import Runtime
from llmloop.store.traces import TraceRepository
from llmloop.tracing import conventions, otlp
from support import Tenant, assert_error

PB = {"Content-Type": "application/x-protobuf"}
_CONVENTION_KEYS = (
    *conventions.MODEL_KEYS, *conventions.PROVIDER_KEYS, *conventions.INPUT_TOKEN_KEYS,
    *conventions.OUTPUT_TOKEN_KEYS, *conventions.USER_KEYS, *conventions.SESSION_KEYS,
    *conventions.TAG_KEYS, *conventions.INPUT_KEYS, *conventions.OUTPUT_KEYS,
    *conventions.KIND_KEYS, "gen_ai.prompt.0.role", "gen_ai.prompt.0.content",
    "gen_ai.completion.0.content", "llm.output_messages.1.message.role", "custom.key",
)  # fmt: skip
_VALUES = st.one_of(
    st.sampled_from(["", "LLM", "chain", "Tool", "chat", "gpt-4o-mini", "a,b", '["x", "y"]',
                     '{"k": 1}', "openai", "7"]),
    st.text(max_size=8),
    st.integers(-5, 10**6),
    st.booleans(),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_CONVENTION_KEYS), _VALUES), max_size=10))
def test_one_pass_mapping_agrees_with_extract(pairs: list[tuple[str, object]]) -> None:
    pb = PbSpan(trace_id=os.urandom(16) or b"\x01" * 16, span_id=b"\x02" * 8, name="s")
    pb.start_time_unix_nano = pb.end_time_unix_nano = time.time_ns()
    pb.attributes.extend(kv(k, v) for k, v in pairs)
    attributes = otlp.attributes_of(pb.attributes)
    expected = conventions.extract(attributes)
    span = otlp._to_span(pb, "svc", otlp.Pricer())
    got = {k: getattr(span, k) for k in expected}
    assert got == expected
    mapped = set(conventions.INPUT_KEYS + conventions.OUTPUT_KEYS)
    prefixes = conventions.INPUT_MESSAGE_PREFIXES + conventions.OUTPUT_MESSAGE_PREFIXES
    kept = {k: v for k, v in attributes.items() if k not in mapped and not k.startswith(prefixes)}
    assert span.attributes == kept


def _export_count(client: TestClient, status: int) -> float:
    for line in client.get("/metrics").text.splitlines():
        wanted = ('route="/v1/traces"', f'status="{status}"')
        if line.startswith("llmloop_http_requests_total{") and all(w in line for w in wanted):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_bearer_exports_check_the_key_once_and_are_counted(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    headers = {**PB, **tenant.headers("editor")}
    for _ in range(3):
        body = request([{"name": "a"}, {"name": "b", "parent": 0}])[0].SerializeToString()
        assert client.post("/v1/traces", content=body, headers=headers).status_code == 200
    assert client.app.state.otlp_export.keys.lookups == 1  # type: ignore[attr-defined]
    assert TraceRepository(runtime.db).count_spans(tenant.project.id) == 6
    assert _export_count(client, 200) == 3


def test_cookie_key_takes_the_regular_route(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    secret = tenant.headers("editor")["Authorization"].split(" ", 1)[1]
    body = request([{"name": "from-the-ui"}])[0].SerializeToString()
    response = client.post(
        "/v1/traces", content=body, headers={**PB, "Cookie": f"llmloop_key={secret}"}
    )
    assert response.status_code == 200, response.text
    assert client.app.state.otlp_export.keys.lookups == 0  # type: ignore[attr-defined]
    assert TraceRepository(runtime.db).count_spans(tenant.project.id) == 1


def test_fast_path_refusals_keep_the_error_shape(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    headers = {**PB, **tenant.headers("editor")}
    limit = runtime.settings.max_request_bytes
    response = client.post("/v1/traces", content=b"x" * (limit + 1), headers=headers)
    assert "larger than" in assert_error(response, 413, "request_too_large")["message"]
    response = client.post("/v1/traces", content=b"\xff\xff\xff", headers=headers)
    assert "malformed OTLP protobuf" in assert_error(response, 400, "bad_request")["message"]
    bad = {**PB, "Authorization": "Bearer not-a-key"}
    body = request([{"name": "a"}])[0].SerializeToString()
    assert_error(client.post("/v1/traces", content=body, headers=bad), 401, "unauthenticated")
    assert _export_count(client, 413) == 1 and _export_count(client, 401) == 1
    assert TraceRepository(runtime.db).count_spans(tenant.project.id) == 0
