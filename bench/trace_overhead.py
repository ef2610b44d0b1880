"""Caller-side cost of one traced call: ``@observe`` vs the raw OpenTelemetry SDK.

Both use a TracerProvider with a BatchSpanProcessor whose exporter discards spans, so
only the work on the caller's thread is measured. Baseline: the raw SDK, same run.
Target (issue 3): at most 1.5x the baseline.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from benchlib import save
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from llmloop.settings import Settings
from llmloop.tracing import configure, observe, shutdown

CALLS = 20_000
ROUNDS = 5


class Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def per_call_us(fn: object, calls: int = CALLS) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for i in range(calls):
            fn(i, "hello")  # type: ignore[operator]
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


def main() -> None:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=CALLS * 2))
    raw_tracer = provider.get_tracer("bench")

    def raw(n: int, text: str) -> int:
        with raw_tracer.start_as_current_span("raw"):
            return n + len(text)

    def plain(n: int, text: str) -> int:
        return n + len(text)

    configure(exporter=Discard(), settings=Settings(), max_queue_size=CALLS * 2)
    observed = observe(plain)
    bare = observe("bare", capture_inputs=False, capture_outputs=False)(plain)

    base = per_call_us(plain)
    raw_us = per_call_us(raw)
    obs_us = per_call_us(observed)
    bare_us = per_call_us(bare)
    shutdown()
    provider.shutdown()
    measured = [
        ("untraced function", base),
        ("raw OTel SDK span (baseline)", raw_us),
        ("@observe (inputs+outputs captured)", obs_us),
        ("@observe (no capture)", bare_us),
    ]
    rows = [
        {"variant": name, "us_per_call": round(us, 2), "x_raw_otel": round(us / raw_us, 2)}
        for name, us in measured
    ]
    for row in rows:
        print(row)
    save("trace_overhead", rows, notes="best of 5 rounds of 20k calls; target <= 1.5x raw OTel")


if __name__ == "__main__":
    main()
