"""OTLP trace payloads (protobuf or JSON, optionally gzipped) into :class:`Span` values.

:func:`decode_request` parses the body (raising :class:`OtlpError` with the reason when
it is malformed); :func:`to_spans` maps every span onto the one schema, computing cost
from usage and the price table. A span whose ids are unusable is rejected and counted
(reported back as OTLP ``partial_success``); the others are kept.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from llmloop.errors import LlmloopError
from llmloop.providers.base import Usage
from llmloop.providers.pricing import PriceTable, default_prices
from llmloop.store.traces_types import FLAG_END_BEFORE_START, Span, SpanStatus, trusted_span
from llmloop.tracing import conventions

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_STATUS: dict[int, SpanStatus] = {Status.STATUS_CODE_OK: "ok", Status.STATUS_CODE_ERROR: "error"}
_KNOWN_VALUE_KEYS = {
    "stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue",
    "bytesValue", "string_value", "bool_value", "int_value", "double_value", "array_value",
    "kvlist_value", "bytes_value",
}  # fmt: skip
_MAPPED_PREFIXES = conventions.INPUT_MESSAGE_PREFIXES + conventions.OUTPUT_MESSAGE_PREFIXES
_MAPPED_KEYS = frozenset(conventions.INPUT_KEYS + conventions.OUTPUT_KEYS)


class OtlpError(LlmloopError):
    code = "bad_request"
    status = 400


class OtlpTooLarge(LlmloopError):
    code = "request_too_large"
    status = 413


@dataclass
class Decoded:
    spans: list[Span] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def error_message(self) -> str:
        return "; ".join(self.errors[:5])


# ---------------------------------------------------------------------- bodies


def decompress(body: bytes, encoding: str | None, max_bytes: int) -> bytes:
    """The body with ``Content-Encoding`` undone; at most ``max_bytes`` once inflated."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise OtlpError(f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise OtlpError(f"body is not valid {encoding}: {exc}") from None
    if len(out) > max_bytes:
        raise OtlpTooLarge(f"decompressed body larger than {max_bytes} bytes")
    if not inflater.eof:
        raise OtlpError(f"body is truncated {encoding} data")
    return out


def decode_request(body: bytes, content_type: str | None) -> ExportTraceServiceRequest:
    kind = (content_type or PROTOBUF).split(";")[0].strip().lower()
    request = ExportTraceServiceRequest()
    if kind == PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise OtlpError(f"malformed OTLP protobuf: {exc}") from None
        return request
    if kind == JSON:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise OtlpError(f"malformed OTLP JSON: {exc}") from None
        if not isinstance(data, dict):
            raise OtlpError("malformed OTLP JSON: the body must be an object with resourceSpans")
        try:
            json_format.ParseDict(_prepare_json(data), request)
        except (json_format.ParseError, ValueError, TypeError) as exc:
            raise OtlpError(f"malformed OTLP JSON: {exc}") from None
        return request
    raise OtlpError(f"unsupported Content-Type {kind!r}; use {PROTOBUF} or {JSON}")


def _hex_to_b64(value: Any, what: str) -> Any:
    if not isinstance(value, str) or not value:
        return value
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        raise OtlpError(f"malformed OTLP JSON: {what} {value!r} is not hex") from None


def _prepare_json(data: dict[str, Any]) -> dict[str, Any]:
    """OTLP/JSON differs from protobuf's JSON mapping: ids are hex, not base64. Values of
    an attribute type this version does not know are kept as their JSON text."""
    for resource_spans in _list(data.get("resourceSpans")):
        _fix_attributes(_dict(resource_spans.get("resource")).get("attributes"))
        for scope_spans in _list(resource_spans.get("scopeSpans")):
            for span in _list(scope_spans.get("spans")):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = _hex_to_b64(span[key], key)
                _fix_attributes(span.get("attributes"))
                for item in _list(span.get("events")) + _list(span.get("links")):
                    _fix_attributes(_dict(item).get("attributes"))
                    if "traceId" in item or "spanId" in item:
                        for key in ("traceId", "spanId"):
                            item[key] = _hex_to_b64(item.get(key), key)
    return data


def _fix_attributes(attributes: Any) -> None:
    for kv in _list(attributes):
        value = _dict(kv).get("value")
        if isinstance(value, dict) and value and not set(value) & _KNOWN_VALUE_KEYS:
            kv["value"] = {"stringValue": json.dumps(value, sort_keys=True)}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# ---------------------------------------------------------------------- values


def any_value(value: AnyValue) -> Any:
    """The Python value of ``value``, strings without NUL characters (see :func:`_clean`)."""
    which = value.WhichOneof("value")
    if which == "string_value":
        text = value.string_value
        return text.replace("\x00", "") if "\x00" in text else text
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {_clean(kv.key): any_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    # an empty value, or a type newer than this code: keep what was sent, as text
    return value.SerializeToString().hex() if value.ByteSize() else ""


def attributes_of(items: Any) -> dict[str, Any]:
    """Attributes as a dict, already free of NUL characters (keys and string values)."""
    out: dict[str, Any] = {}
    for kv in items:  # the common scalar types inline: this runs for every attribute
        key = kv.key
        if "\x00" in key:
            key = key.replace("\x00", "")
        value = kv.value
        which = value.WhichOneof("value")
        if which == "string_value":
            text = value.string_value
            out[key] = text.replace("\x00", "") if "\x00" in text else text
        elif which == "int_value":
            out[key] = value.int_value
        else:
            out[key] = any_value(value)
    return out


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _time(nanos: int) -> datetime:
    """Exact to the microsecond (a float of seconds is not, for today's timestamps)."""
    return _EPOCH + timedelta(microseconds=nanos // 1000)


def _clean(value: Any) -> Any:
    """PostgreSQL refuses NUL characters in text: drop them from strings, deeply."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


# ---------------------------------------------------------------------- mapping


class Pricer:
    """Cost of usage by ``provider/model``, with lookups memoised for a batch."""

    def __init__(self, table: PriceTable | None = None) -> None:
        self.table = table or default_prices()
        self._memo: dict[tuple[str | None, str], Any] = {}

    def cost(self, provider: str | None, model: str | None, usage: Usage) -> float | None:
        return self.tokens_cost(provider, model, usage.prompt_tokens, usage.completion_tokens)

    def tokens_cost(
        self, provider: str | None, model: str | None, input_tokens: int, output_tokens: int
    ) -> float | None:
        """What :meth:`cost` answers, from the two token counts (no ``Usage`` built)."""
        if not model:
            return None
        key = (provider, model)
        try:
            price = self._memo[key]
        except KeyError:
            ref = model if "/" in model else f"{(provider or 'unknown').lower()}/{model}"
            price = self._memo[key] = self.table.lookup(ref)
        if price is None:
            return None
        return (input_tokens * price.input + output_tokens * price.output) / 1e6


def to_spans(request: ExportTraceServiceRequest, pricer: Pricer | None = None) -> Decoded:
    pricer = pricer or Pricer()
    out = Decoded()
    for resource_spans in request.resource_spans:
        resource = attributes_of(resource_spans.resource.attributes)
        service = resource.get("service.name")
        for scope_spans in resource_spans.scope_spans:
            for pb in scope_spans.spans:
                try:
                    out.spans.append(_to_span(pb, service, pricer))
                except OtlpError as exc:
                    out.rejected += 1
                    out.errors.append(exc.message)
    return out


def _id(raw: bytes, size: int, what: str) -> str:
    if len(raw) != size or not any(raw):
        raise OtlpError(f"span {what} must be {size} non-zero bytes, got {binascii.hexlify(raw)!r}")
    return raw.hex()


# Where each schema field is read from: attribute key -> (slot, preference), the
# preference being the key's place in its conventions tuple (lower wins).
_SLOT_KEYS = (
    conventions.MODEL_KEYS, conventions.PROVIDER_KEYS, conventions.INPUT_TOKEN_KEYS,
    conventions.OUTPUT_TOKEN_KEYS, conventions.USER_KEYS, conventions.SESSION_KEYS,
    conventions.TAG_KEYS, conventions.INPUT_KEYS, conventions.OUTPUT_KEYS,
    conventions.KIND_KEYS,
)  # fmt: skip
_MODEL, _PROVIDER, _IN, _OUT, _USER, _SESSION, _TAGS, _INPUTS, _OUTPUTS, _KIND = range(10)
_SLOT_OF = {
    key: (slot, rank) for slot, keys in enumerate(_SLOT_KEYS) for rank, key in enumerate(keys)
}
_KINDS = conventions._KIND_BY_ATTRIBUTE
_UNSET = 1 << 30


def _found(attributes: dict[str, Any]) -> tuple[list[Any], dict[str, Any], bool]:
    """One pass over a span's attributes: the preferred value of every schema field (what
    :func:`conventions.extract` reads, before conversion), the attributes kept as they
    are, and whether flattened message lists are present."""
    best: list[Any] = [None] * 10
    ranks = [_UNSET] * 10
    kept: dict[str, Any] = {}
    flat = False
    for key, value in attributes.items():
        hit = _SLOT_OF.get(key)
        if hit is None:
            if key.startswith(_MAPPED_PREFIXES):
                flat = True
            else:
                kept[key] = value
            continue
        slot, rank = hit
        if slot < _INPUTS or slot == _KIND:
            kept[key] = value
        if value is None or value == "" or rank >= ranks[slot]:
            continue
        if slot == _KIND:
            if not isinstance(value, str) or value.lower() not in _KINDS:
                continue
            value = _KINDS[value.lower()]
        best[slot] = value
        ranks[slot] = rank
    return best, kept, flat


def _content(value: Any, flat: bool, attributes: dict[str, Any], prefixes: Any) -> Any:
    value = conventions.maybe_json(value)
    if value is None and flat:
        return conventions.messages(attributes, prefixes) or None
    return value


def _to_span(pb: PbSpan, service: Any, pricer: Pricer) -> Span:
    trace_id = _id(pb.trace_id, 16, "trace_id")
    span_id = _id(pb.span_id, 8, "span_id")
    parent = _id(pb.parent_span_id, 8, "parent_span_id") if pb.parent_span_id else None
    attributes = attributes_of(pb.attributes)
    best, kept, flat = _found(attributes)
    as_text, as_int = conventions.as_text, conventions.as_int
    model = as_text(best[_MODEL])
    provider = as_text(best[_PROVIDER])
    input_tokens = as_int(best[_IN])
    output_tokens = as_int(best[_OUT])
    start, end = pb.start_time_unix_nano, pb.end_time_unix_nano
    events = (
        [
            {"name": e.name, "time": _time(e.time_unix_nano).isoformat(),
             "attributes": attributes_of(e.attributes)}
            for e in pb.events
        ]
        if pb.events
        else []
    )  # fmt: skip
    status = pb.status
    message = status.message or _exception_message(events) or None
    tags = best[_TAGS]
    return trusted_span(
        {  # every field, in declaration order (what model_dump keeps)
            "trace_id": trace_id,
            "span_id": span_id,
            "parent_span_id": parent,
            "name": _clean(pb.name) or "(unnamed)",
            "kind": best[_KIND] or ("llm" if best[_MODEL] is not None else "span"),
            "start_time": _time(start),
            "end_time": _time(end),
            "duration_ms": max(0, end - start) / 1e6,
            "status": _STATUS.get(status.code, "unset"),
            "status_message": _clean(message),
            "service": _clean(service) if isinstance(service, str) else None,
            "model": model,
            "provider": provider,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost_usd": pricer.tokens_cost(provider, model, input_tokens, output_tokens),
            "user_id": as_text(best[_USER]),
            "session_id": as_text(best[_SESSION]),
            "tags": [] if tags is None else conventions.tags_of({conventions.TAG_KEYS[0]: tags}),
            "inputs": _content(best[_INPUTS], flat, attributes, conventions.INPUT_MESSAGE_PREFIXES),
            "outputs": _content(
                best[_OUTPUTS], flat, attributes, conventions.OUTPUT_MESSAGE_PREFIXES
            ),
            "attributes": kept,
            "events": events,
            "flags": [FLAG_END_BEFORE_START] if end < start else [],
        }
    )


def _exception_message(events: list[dict[str, Any]]) -> str | None:
    for event in events:
        if event["name"] == "exception":
            attrs = event["attributes"]
            kind, text = attrs.get("exception.type"), attrs.get("exception.message")
            return f"{kind}: {text}" if kind else str(text) if text else None
    return None


def parse(
    body: bytes,
    *,
    content_type: str | None,
    content_encoding: str | None,
    max_bytes: int,
    pricer: Pricer | None = None,
) -> Decoded:
    """Body bytes of ``POST /v1/traces`` to spans; OtlpError when malformed."""
    raw = decompress(body, content_encoding, max_bytes)
    return to_spans(decode_request(raw, content_type), pricer)
