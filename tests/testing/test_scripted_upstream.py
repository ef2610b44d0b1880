"""The scripted upstream over real HTTP: plain httpx, raw sockets and the openai SDK."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import socket
import struct
import subprocess
import sys
import time
from typing import Any

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmloop.testing
from llmloop.testing import ScriptedUpstream, embed_text

USER: Any = [{"role": "user", "content": "hello there"}]


def chat_body(text: str = "hello there", **extra: object) -> dict[str, object]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


def sse_events(text: str) -> list[str]:
    return [line.removeprefix("data: ") for line in text.split("\n") if line.startswith("data: ")]


def test_public_names_are_exported() -> None:
    assert sorted(llmloop.testing.__all__) == [
        "ReceivedRequest",
        "ScriptedResponse",
        "ScriptedUpstream",
        "embed_text",
    ]
    for name in llmloop.testing.__all__:
        assert getattr(llmloop.testing, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = llmloop.testing.nope


async def test_default_echoes_last_user_message(http: httpx.AsyncClient) -> None:
    body = chat_body(messages=[{"role": "system", "content": "be brief"}, *USER])
    response = await http.post("/chat/completions", json=body)
    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "gpt-4o-mini"
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "hello there"}
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}


async def test_fixed_default_reply() -> None:
    with ScriptedUpstream(reply="always this") as up:
        async with httpx.AsyncClient(base_url=up.base_url) as http:
            data = (await http.post("/chat/completions", json=chat_body())).json()
    assert data["choices"][0]["message"]["content"] == "always this"


async def test_scripted_responses_are_used_once_in_order(
    upstream: ScriptedUpstream, http: httpx.AsyncClient
) -> None:
    upstream.script(reply="first")
    upstream.script(reply="second", times=2)
    replies = []
    for _ in range(4):
        data = (await http.post("/chat/completions", json=chat_body("x"))).json()
        replies.append(data["choices"][0]["message"]["content"])
    assert replies == ["first", "second", "second", "x"]
    assert upstream.pending == []


async def test_matching_by_message_substring_and_model(
    upstream: ScriptedUpstream, http: httpx.AsyncClient
) -> None:
    upstream.script(reply="about refunds", match="refund", times=None)
    upstream.script(reply="big model", model="gpt-4o")
    big = await http.post("/chat/completions", json={**chat_body("hi"), "model": "gpt-4o"})
    refund = await http.post("/chat/completions", json=chat_body("I want a refund"))
    other = await http.post("/chat/completions", json=chat_body("hi"))
    assert big.json()["choices"][0]["message"]["content"] == "big model"
    assert refund.json()["choices"][0]["message"]["content"] == "about refunds"
    assert other.json()["choices"][0]["message"]["content"] == "hi"
    assert len(upstream.pending) == 1  # the times=None rule stays


async def test_error_has_openai_shape_and_headers(
    upstream: ScriptedUpstream, http: httpx.AsyncClient
) -> None:
    upstream.script(
        status=429,
        headers={"Retry-After": "7"},
        error={"message": "slow down", "code": "rate_limit_exceeded"},
    )
    response = await http.post("/chat/completions", json=chat_body())
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json() == {
        "error": {
            "message": "slow down",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }


async def test_bad_requests_are_refused_like_openai(http: httpx.AsyncClient) -> None:
    not_json = await http.post("/chat/completions", content=b"{nope")
    no_model = await http.post("/chat/completions", json={"messages": []})
    no_route = await http.get("/nowhere")
    wrong_method = await http.get("/chat/completions")
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]["message"]
    assert no_model.status_code == 400 and "'model'" in no_model.json()["error"]["message"]
    assert no_route.status_code == 404
    assert wrong_method.status_code == 405


async def test_tool_calls_in_a_completion(
    upstream: ScriptedUpstream, http: httpx.AsyncClient
) -> None:
    upstream.script(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    data = (await http.post("/chat/completions", json=chat_body())).json()
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}


async def test_streaming_sse_with_usage_and_done(
    upstream: ScriptedUpstream, http: httpx.AsyncClient
) -> None:
    upstream.script(chunks=["Hel", "lo", "!"], usage={"prompt_tokens": 5, "completion_tokens": 3})
    body = chat_body(stream=True, stream_options={"include_usage": True})
    response = await http.post("/chat/completions", json=body)
    assert response.headers["content-type"] == "text/event-stream"
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello!"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


async def test_streaming_without_include_usage_sends_no_usage(http: httpx.AsyncClient) -> None:
    response = await http.post("/chat/completions", json=chat_body(stream=True))
    chunks = [json.loads(e) for e in sse_events(response.text)[:-1]]
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_streamed_tool_call_arguments_reassemble(upstream: ScriptedUpstream) -> None:
    upstream.script(tool_calls=[{"id": "call_1", "name": "lookup", "arguments": {"q": "a b c"}}])
    client = openai.AsyncOpenAI(base_url=upstream.base_url, api_key="k", max_retries=0)
    try:
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        arguments, names, ids, finish = "", [], [], None
        async for chunk in stream:
            delta = chunk.choices[0].delta
            for call in delta.tool_calls or []:
                ids += [call.id] if call.id else []
                names += [call.function.name] if call.function and call.function.name else []
                arguments += call.function.arguments or "" if call.function else ""
            finish = chunk.choices[0].finish_reason or finish
    finally:
        await client.close()
    assert ids == ["call_1"] and names == ["lookup"]
    assert json.loads(arguments) == {"q": "a b c"}
    assert finish == "tool_calls"


async def test_embeddings_are_deterministic_unit_vectors(http: httpx.AsyncClient) -> None:
    body = {
        "model": "text-embedding-3-small",
        "input": ["refund my order", "refund my order", "hi"],
    }
    data = (await http.post("/embeddings", json=body)).json()
    vectors = [d["embedding"] for d in data["data"]]
    assert [d["index"] for d in data["data"]] == [0, 1, 2]
    assert vectors[0] == vectors[1] == embed_text("refund my order")
    assert vectors[0] != vectors[2]
    assert math.isclose(sum(v * v for v in vectors[0]), 1.0)
    assert data["usage"] == {"prompt_tokens": 7, "total_tokens": 7}


async def test_embeddings_base64_and_dimensions(http: httpx.AsyncClient) -> None:
    body = {"model": "e", "input": "some text", "encoding_format": "base64", "dimensions": 8}
    encoded = (await http.post("/embeddings", json=body)).json()["data"][0]["embedding"]
    decoded = struct.unpack("<8f", base64.b64decode(encoded))
    assert decoded == pytest.approx(embed_text("some text", 8), abs=1e-6)


async def test_embeddings_through_the_sdk_default_encoding(upstream: ScriptedUpstream) -> None:
    client = openai.AsyncOpenAI(base_url=upstream.base_url, api_key="k", max_retries=0)
    try:
        result = await client.embeddings.create(model="text-embedding-3-small", input=["a cat"])
    finally:
        await client.close()
    assert result.data[0].embedding == pytest.approx(embed_text("a cat"), abs=1e-6)


async def test_models_list(http: httpx.AsyncClient) -> None:
    data = (await http.get("/models")).json()
    assert [m["id"] for m in data["data"]] == ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]


async def test_latency_is_injected(upstream: ScriptedUpstream, http: httpx.AsyncClient) -> None:
    upstream.script(reply="late", latency_ms=150)
    started = time.perf_counter()
    await http.post("/chat/completions", json=chat_body())
    slow = time.perf_counter() - started
    started = time.perf_counter()
    await http.post("/chat/completions", json=chat_body())
    fast = time.perf_counter() - started
    assert slow >= 0.15
    assert fast < 0.15


async def test_request_log_records_path_headers_and_body(
    upstream: ScriptedUpstream, http: httpx.AsyncClient
) -> None:
    await http.post("/chat/completions", json=chat_body("first"), headers={"X-Trace": "t1"})
    await http.post("/embeddings", json={"model": "e", "input": "second"})
    first, second = upstream.requests
    assert (first.method, first.path, first.model) == (
        "POST",
        "/v1/chat/completions",
        "gpt-4o-mini",
    )
    assert first.headers["x-trace"] == "t1"
    assert first.last_user_message == "first"
    assert second.path == "/v1/embeddings" and second.last_user_message == "second"
    assert second.received_at >= first.received_at
    upstream.reset()
    assert upstream.requests == []


async def test_dropped_connection_is_a_transport_error(
    upstream: ScriptedUpstream, http: httpx.AsyncClient
) -> None:
    upstream.script(drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post("/chat/completions", json=chat_body())
    assert (await http.post("/chat/completions", json=chat_body())).status_code == 200


async def test_disconnect_mid_stream(upstream: ScriptedUpstream, http: httpx.AsyncClient) -> None:
    upstream.script(chunks=["a", "b", "c", "d"], disconnect_after=2)
    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        async with http.stream(
            "POST", "/chat/completions", json=chat_body(stream=True)
        ) as response:
            async for line in response.aiter_lines():
                received.append(line)
    contents = [json.loads(x[6:])["choices"][0]["delta"].get("content") for x in received if x]
    assert contents == ["", "a"]


async def test_stream_error_event_is_raised_by_the_sdk(upstream: ScriptedUpstream) -> None:
    upstream.script(chunks=["partial"], stream_error={"message": "model crashed"})
    client = openai.AsyncOpenAI(base_url=upstream.base_url, api_key="k", max_retries=0)
    seen = []
    try:
        with pytest.raises(openai.APIError, match="model crashed"):
            stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
            async for chunk in stream:
                seen.append(chunk.choices[0].delta.content)
    finally:
        await client.close()
    assert "partial" in seen


def test_keep_alive_serves_several_requests_on_one_connection(upstream: ScriptedUpstream) -> None:
    payload = json.dumps(chat_body("one")).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n"
        % len(payload)
        + payload
    )
    with socket.create_connection(("127.0.0.1", upstream.port), timeout=5) as sock:
        sock.sendall(request + request)
        data = b""
        while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {data!r}"
            data += chunk
    assert data.count(b'"content":"one"') == 2
    assert len(upstream.requests) == 2


def test_chunked_request_bodies_are_read(upstream: ScriptedUpstream) -> None:
    def body() -> object:
        yield json.dumps(chat_body("chunked")).encode()

    with httpx.Client(base_url=upstream.base_url) as http:
        response = http.post("/chat/completions", content=body())  # type: ignore[arg-type]
    assert response.json()["choices"][0]["message"]["content"] == "chunked"


async def test_control_endpoints_program_the_upstream(
    upstream: ScriptedUpstream, http: httpx.AsyncClient
) -> None:
    root = f"http://127.0.0.1:{upstream.port}/_upstream"
    assert (await http.post(f"{root}/script", json={"reply": "via http"})).json() == {"ok": True}
    bad = await http.post(f"{root}/script", json={"nonsense": 1})
    assert bad.status_code == 400 and "nonsense" in bad.json()["error"]["message"]
    data = (await http.post("/chat/completions", json=chat_body())).json()
    assert data["choices"][0]["message"]["content"] == "via http"
    log = (await http.get(f"{root}/requests")).json()
    assert log["count"] == 1 and log["requests"][0]["body"]["model"] == "gpt-4o-mini"
    await http.post(f"{root}/reset")
    assert upstream.requests == []


def test_script_rejects_bad_options(upstream: ScriptedUpstream) -> None:
    with pytest.raises(ValueError, match="status=42"):
        upstream.script(status=42)
    with pytest.raises(ValueError, match="times=0"):
        upstream.script(times=0)
    with pytest.raises(ValueError, match="unexpected keyword argument 'colour'"):
        upstream.script(colour="red")
    with pytest.raises(ValueError, match=r"tool_calls\[0\].*no function name"):
        upstream.script(tool_calls=[{"arguments": {}}])


def test_two_upstreams_get_different_ports_and_stop_cleanly() -> None:
    with ScriptedUpstream() as a, ScriptedUpstream() as b:
        assert a.port != b.port
        port = a.port
        with pytest.raises(OSError):
            ScriptedUpstream(port=port).start()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_runs_as_a_separate_process() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmloop.testing.upstream",
            "--port",
            "0",
            "--reply",
            "from process",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("scripted upstream on http://127.0.0.1:"), line
        base_url = line.split(" on ")[1].strip()
        response = httpx.post(f"{base_url}/chat/completions", json=chat_body(), timeout=5)
        assert response.json()["choices"][0]["message"]["content"] == "from process"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert "Warning" not in stderr


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=200), st.integers(min_value=1, max_value=64))
def test_embed_text_is_deterministic_and_unit_length(text: str, dimensions: int) -> None:
    vector = embed_text(text, dimensions)
    assert vector == embed_text(text, dimensions)
    assert len(vector) == dimensions
    assert math.isclose(math.fsum(v * v for v in vector), 1.0, rel_tol=1e-9)


async def test_serves_many_concurrent_clients(upstream: ScriptedUpstream) -> None:
    async with httpx.AsyncClient(base_url=upstream.base_url, timeout=10) as http:
        responses = await asyncio.gather(
            *(http.post("/chat/completions", json=chat_body(f"n{i}")) for i in range(100))
        )
    contents = sorted(r.json()["choices"][0]["message"]["content"] for r in responses)
    assert contents == sorted(f"n{i}" for i in range(100))


def test_stopping_with_an_idle_keep_alive_connection_logs_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    payload = json.dumps(chat_body("idle")).encode()
    head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n"
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        upstream = ScriptedUpstream().start()
        with socket.create_connection(("127.0.0.1", upstream.port), timeout=5) as sock:
            sock.sendall(head % len(payload) + payload)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            upstream.stop()  # the connection is still open and idle
            assert sock.recv(65536) == b""  # closed by the server
    assert [r.getMessage() for r in caplog.records] == []
