"""OTLP request builders for the receiver tests (real protobuf messages)."""

from __future__ import annotations

import os
import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def request(
    spans: list[dict[str, Any]], service: str = "svc"
) -> tuple[ExportTraceServiceRequest, list[tuple[str, str]]]:
    """One request with ``spans`` (dicts of name/attributes/parent index); returns the
    request and the (trace_id, span_id) hex pairs it holds."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", service))
    scope = rs.scope_spans.add()
    trace_id = os.urandom(16)
    ids: list[tuple[str, str]] = []
    now = time.time_ns()
    for index, spec in enumerate(spans):
        span = scope.spans.add()
        span.trace_id = spec.get("trace_id", trace_id)
        span.span_id = spec.get("span_id", os.urandom(8))
        if "parent" in spec:
            span.parent_span_id = scope.spans[spec["parent"]].span_id
        span.name = spec.get("name", "op")
        span.start_time_unix_nano = spec.get("start", now - 5_000_000 + index * 10_000)
        span.end_time_unix_nano = spec.get("end", now)
        span.status.code = spec.get("status", 1)
        span.attributes.extend(kv(k, v) for k, v in spec.get("attributes", {}).items())
        ids.append((span.trace_id.hex(), span.span_id.hex()))
    return req, ids
