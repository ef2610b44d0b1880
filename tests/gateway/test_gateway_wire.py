"""The gateway's HTTP client: keep-alive reuse, stale connections, streaming, framing."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from llmloop.gateway.wire import HttpPool, Origin, UpstreamClosed, WireResponse
from llmloop.testing import ScriptedUpstream

BODY = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi there"}]})
JSON = {"content-type": "application/json"}


async def post(pool: HttpPool, origin: Origin) -> WireResponse:
    return await pool.request(origin, "POST", "/v1/chat/completions", JSON, BODY)


def test_origin_parsing() -> None:
    origin = Origin.parse("https://api.example.com/openai/v1/")
    assert (origin.scheme, origin.host, origin.port, origin.prefix) == (
        "https", "api.example.com", 443, "/openai/v1",
    )  # fmt: skip
    assert origin.host_header == "api.example.com"
    assert Origin.parse("http://127.0.0.1:8000").host_header == "127.0.0.1:8000"
    with pytest.raises(ValueError, match="must be http"):
        Origin.parse("ftp://x")


async def test_connections_are_kept_and_reused(upstream: ScriptedUpstream) -> None:
    pool = HttpPool()
    origin = Origin.parse(upstream.base_url)
    try:
        for _ in range(5):
            response = await pool.request(origin, "POST", "/v1/chat/completions", JSON, BODY)
            assert response.status == 200
            assert orjson.loads(response.body)["choices"][0]["message"]["content"] == "hi there"
        assert pool.opened == 1
        answers = await asyncio.gather(
            *[pool.request(origin, "POST", "/v1/chat/completions", JSON, BODY) for _ in range(4)]
        )
        assert {a.status for a in answers} == {200} and pool.opened == 4
    finally:
        pool.close()


async def test_streamed_bodies_arrive_in_pieces(upstream: ScriptedUpstream) -> None:
    upstream.script(chunks=["a", "b", "c"], chunk_delay_ms=20)
    pool = HttpPool()
    origin = Origin.parse(upstream.base_url)
    body = orjson.dumps({**orjson.loads(BODY), "stream": True})
    try:
        response = await pool.request(
            origin, "POST", "/v1/chat/completions", JSON, body, stream=True
        )
        assert response.status == 200
        pieces = [p async for p in response.iter_body()]
        assert len(pieces) > 1 and b"data: [DONE]" in b"".join(pieces)
        again = await pool.request(origin, "POST", "/v1/chat/completions", JSON, BODY)
        assert again.status == 200 and pool.opened == 1  # read to the end: kept
    finally:
        pool.close()


async def test_a_connection_the_server_closed_is_replaced(upstream: ScriptedUpstream) -> None:
    pool = HttpPool()
    origin = Origin.parse(upstream.base_url)
    try:
        assert (
            await pool.request(origin, "POST", "/v1/chat/completions", JSON, BODY)
        ).status == 200
        upstream.stop()  # closes every connection, including our idle one
        upstream.start()
        origin = Origin.parse(upstream.base_url)
        await asyncio.sleep(0.05)
        assert (
            await pool.request(origin, "POST", "/v1/chat/completions", JSON, BODY)
        ).status == 200
    finally:
        pool.close()


async def test_a_dropped_answer_raises(upstream: ScriptedUpstream) -> None:
    upstream.script(drop=True)
    pool = HttpPool()
    try:
        with pytest.raises(UpstreamClosed):
            await pool.request(
                Origin.parse(upstream.base_url), "POST", "/v1/chat/completions", JSON, BODY
            )
    finally:
        pool.close()
