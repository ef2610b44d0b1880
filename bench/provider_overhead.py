"""What the provider layer adds over the official ``openai`` SDK, per call.

Baselines in the same run: a raw httpx POST to the scripted upstream, and the ``openai``
SDK's ``AsyncOpenAI`` alone. Then ``OpenAICompatProvider.chat`` (SDK + retries + pricing
+ mapping to our types). All against ``llmloop.testing.ScriptedUpstream`` on loopback.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
from benchlib import save, summary_ms

from llmloop.providers.base import ChatRequest, Message
from llmloop.providers.openai_compat import OpenAICompatProvider
from llmloop.testing import ScriptedUpstream

N = 2000
WARMUP = 200
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


async def timed(call, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    for _ in range(WARMUP):
        await call()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


async def main() -> None:
    with ScriptedUpstream(reply="hi there") as up:
        base = up.base_url
        async with httpx.AsyncClient(base_url=base) as http:
            raw = await timed(lambda: http.post("/chat/completions", json=BODY), N)
        sdk = openai.AsyncOpenAI(base_url=base, api_key="x", max_retries=0)
        direct = await timed(lambda: sdk.chat.completions.create(**BODY), N)  # type: ignore[arg-type]
        await sdk.close()
        provider = OpenAICompatProvider("bench", base_url=base, api_key="x")
        request = ChatRequest(model="gpt-4o-mini", messages=[Message(role="user", content="hello")])
        ours = await timed(lambda: provider.chat(request), N)
        await provider.aclose()
    base_p50 = summary_ms(direct)["p50_ms"]
    rows = []
    for name, samples in [("httpx POST", raw), ("openai SDK", direct), ("llmloop provider", ours)]:
        stats = summary_ms(samples)
        rows.append(
            {"path": name, **stats, "p50_vs_openai_sdk": round(stats["p50_ms"] / base_p50, 3)}
        )
    path = save(
        "provider_overhead",
        rows,
        notes=f"{N} sequential non-streaming calls each after {WARMUP} warm-up calls, "
        "scripted upstream in a thread of the same process.",
    )
    print(path.read_text())


if __name__ == "__main__":
    asyncio.run(main())
