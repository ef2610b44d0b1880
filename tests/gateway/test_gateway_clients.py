"""Real clients against the gateway: the openai SDK (sync, async, streaming), LangChain's
ChatOpenAI and curl, with a scripted upstream behind a live server."""

from __future__ import annotations

import json
import shutil
import subprocess

import openai
import pytest
from gw_support import chat, wait_for_trace
from langchain_openai import ChatOpenAI

from llmloop.providers.base import ChatRequest, ChatResponse, Message, Provider, Usage
from llmloop.runtime import Runtime
from llmloop.testing import ScriptedUpstream
from support import LiveServer, Tenant


def sdk(live_server: LiveServer, tenant: Tenant) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{live_server.url}/v1", api_key=tenant.secret("viewer"), max_retries=0
    )


def test_openai_sdk_chat_answers_and_traces(
    live_server: LiveServer, acme: Tenant, upstream: ScriptedUpstream, runtime: Runtime
) -> None:
    upstream.script("Paris is the capital.", usage={"prompt_tokens": 12, "completion_tokens": 5})
    client = sdk(live_server, acme)
    raw = client.chat.completions.with_raw_response.create(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "Capital of France?"}],
        temperature=0,
        user="user-7",
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == "Paris is the capital."
    assert answer.usage is not None and answer.usage.total_tokens == 17
    sent = upstream.requests[-1]
    assert sent.body["model"] == "gpt-4o-mini"  # the provider prefix is the gateway's
    assert sent.body["temperature"] == 0
    assert sent.headers["authorization"] != f"Bearer {acme.secret('viewer')}"

    trace_id = raw.headers["x-llmloop-trace-id"]
    detail = wait_for_trace(runtime, acme.project.id, trace_id)
    root = detail.spans[0].span
    assert (root.kind, root.model, root.provider) == ("llm", "gpt-4o-mini", "openai")
    assert (root.input_tokens, root.output_tokens) == (12, 5)
    assert root.cost_usd == pytest.approx((12 * 0.15 + 5 * 0.60) / 1e6)
    assert root.status == "ok" and root.user_id == "user-7"
    assert root.inputs == {"messages": [{"role": "user", "content": "Capital of France?"}]}
    assert root.outputs["content"] == "Paris is the capital."
    assert detail.trace.duration_ms > 0


def test_openai_sdk_streams_with_usage(
    live_server: LiveServer, acme: Tenant, upstream: ScriptedUpstream, runtime: Runtime
) -> None:
    upstream.script(
        chunks=["Hel", "lo", " world"], usage={"prompt_tokens": 3, "completion_tokens": 3}
    )
    client = sdk(live_server, acme)
    stream = client.chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "greet"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello world"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    assert upstream.requests[-1].body["stream_options"] == {"include_usage": True}


def test_stream_without_usage_request_gets_no_usage_chunk(
    live_server: LiveServer, acme: Tenant, upstream: ScriptedUpstream, runtime: Runtime
) -> None:
    """The gateway asks the upstream for usage (for traces and limits) but does not pass
    the usage-only chunk to a caller that did not ask: code indexing choices[0] works."""
    upstream.script(chunks=["a", "b"], usage={"prompt_tokens": 4, "completion_tokens": 2})
    client = sdk(live_server, acme)
    with client.chat.completions.with_streaming_response.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
    ) as response:
        trace_id = response.headers["x-llmloop-trace-id"]
        chunks = list(response.parse())
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "ab"
    root = wait_for_trace(runtime, acme.project.id, trace_id).spans[0].span
    assert (root.input_tokens, root.output_tokens) == (4, 2)
    assert root.outputs["content"] == "ab"


async def test_async_openai_sdk(
    live_server: LiveServer, acme: Tenant, upstream: ScriptedUpstream
) -> None:
    upstream.script("async hello")
    async with openai.AsyncOpenAI(
        base_url=f"{live_server.url}/v1", api_key=acme.secret("viewer"), max_retries=0
    ) as client:
        answer = await client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content == "async hello"
        upstream.script(chunks=["one ", "two"])
        stream = await client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "one two"
        vectors = await client.embeddings.create(
            model="openai/text-embedding-3-small", input=["red apple", "green apple"]
        )
        assert [d.index for d in vectors.data] == [0, 1]
        assert len(vectors.data[0].embedding) == 16


def test_embeddings_and_models(
    live_server: LiveServer, acme: Tenant, upstream: ScriptedUpstream, runtime: Runtime
) -> None:
    client = sdk(live_server, acme)
    raw = client.embeddings.with_raw_response.create(
        model="openai/text-embedding-3-small", input="hello world"
    )
    assert len(raw.parse().data[0].embedding) == 16
    root = wait_for_trace(runtime, acme.project.id, raw.headers["x-llmloop-trace-id"])
    assert root.spans[0].span.kind == "embedding"
    assert root.spans[0].span.input_tokens == 2
    ids = {m.id for m in client.models.list()}
    assert {"openai/gpt-4o-mini", "backup/gpt-4o-mini"} <= ids


class Shouty(Provider):
    """A provider that is not OpenAI-compatible HTTP: the gateway goes through its
    translation (``chat``/``chat_stream``/``embed``) instead of forwarding bytes."""

    name = "shouty"

    async def chat(self, request: ChatRequest) -> ChatResponse:
        text = request.messages[-1].text().upper()
        return ChatResponse(
            id="shout-1",
            model=request.model,
            message=Message(role="assistant", content=text),
            usage=Usage(prompt_tokens=1, completion_tokens=1, total_tokens=2),
        )


def test_other_providers_answer_in_the_openai_shape(
    live_server: LiveServer, acme: Tenant, runtime: Runtime
) -> None:
    runtime.providers.register("shouty", Shouty())
    client = sdk(live_server, acme)
    answer = client.chat.completions.create(
        model="shouty/v1", messages=[{"role": "user", "content": "quiet please"}]
    )
    assert answer.choices[0].message.content == "QUIET PLEASE"
    assert answer.usage is not None and answer.usage.total_tokens == 2
    stream = client.chat.completions.create(
        model="shouty/v1",
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "STREAM ME"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 2
    with pytest.raises(openai.NotFoundError, match="does not serve embeddings"):
        client.embeddings.create(model="shouty/v1", input=["a b c"])


def test_langchain_chat_openai(
    live_server: LiveServer, acme: Tenant, upstream: ScriptedUpstream
) -> None:
    llm = ChatOpenAI(
        model="openai/gpt-4o-mini",
        base_url=f"{live_server.url}/v1",
        api_key=acme.secret("viewer"),  # type: ignore[arg-type]
        max_retries=0,
    )
    upstream.script("langchain works", usage={"prompt_tokens": 2, "completion_tokens": 2})
    message = llm.invoke("Say something")
    assert message.content == "langchain works"
    assert message.usage_metadata is not None and message.usage_metadata["total_tokens"] == 4
    upstream.script(chunks=["stream", "ed"])
    assert "".join(str(c.content) for c in llm.stream("again")) == "streamed"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl(live_server: LiveServer, acme: Tenant, upstream: ScriptedUpstream) -> None:
    upstream.script("hello from curl")
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    result = subprocess.run(
        [
            "curl", "-sS", "-i", f"{live_server.url}/v1/chat/completions",
            "-H", f"Authorization: Bearer {acme.secret('viewer')}",
            "-H", "Content-Type: application/json", "-d", json.dumps(body),
        ],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    head, _, payload = result.stdout.partition("\n\n")  # text mode: \r\n read as \n
    assert head.startswith("HTTP/1.1 200")
    assert "x-llmloop-trace-id:" in head.lower()
    assert json.loads(payload)["choices"][0]["message"]["content"] == "hello from curl"
    error = subprocess.run(
        ["curl", "-sS", f"{live_server.url}/v1/chat/completions", "-d", json.dumps(body)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert json.loads(error.stdout)["error"]["code"] == "invalid_api_key"


def test_bare_model_name_means_openai(
    live_server: LiveServer, acme: Tenant, upstream: ScriptedUpstream
) -> None:
    with live_server.client(headers=acme.headers("viewer")) as client:
        response = chat(client, model="gpt-4o-mini")
    assert response.status_code == 200, response.text
    assert upstream.requests[-1].body["model"] == "gpt-4o-mini"
