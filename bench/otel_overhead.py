"""What an OpenTelemetry span per model call adds to ``PromptOptimizer.run()``.

Question: with tracing on, how much longer does each call take in the calling thread? ``run()`` with a
do-nothing provider (``ScriptedProvider``), tracing off (the default ``NO_TELEMETRY``) and on
(``OtelTelemetry`` on an SDK ``TracerProvider`` with a ``BatchSpanProcessor`` and an exporter that drops
the spans: the span's cost in the caller, not the network's), in alternating blocks of 1,000 calls so
that the machine's load hits both alike. Two active variants split 50/50 by sticky unit ids; the
English baseline (2 chat messages, 4 variables).

    python bench/otel_overhead.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from promptevolve.client import PromptOptimizer
from promptevolve.client.telemetry import NO_TELEMETRY, OtelTelemetry
from promptevolve.core.settings import Settings
from promptevolve.core.types import ModelSettings
from promptevolve.examples.lead_enrichment.baselines import load_baselines
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store
from promptevolve.store.migrate import upgrade

LEAD = {
    "company_name": "Quillmark Labs",
    "website": "https://quillmark.io",
    "country": "United States",
    "description": "Quillmark Labs sells a contract-review SaaS to mid-sized law firms; 38 people.",
}


class Drop(SpanExporter):
    def export(self, spans):  # type: ignore[no-untyped-def]
        return SpanExportResult.SUCCESS


def optimizer(tmp: str) -> PromptOptimizer:
    store = Store.from_url(f"sqlite:///{tmp}/bench.db")
    upgrade(store)
    registry = Registry(store)
    base = load_baselines()[0]
    registry.register(base.model_copy(update={"settings": ModelSettings(provider="scripted")}))
    registry.activate(base.prompt, "1.0.0")
    second = [base.template[0], {"role": "user", "content": base.template[1]["content"] + "\nBe concise."}]
    registry.register(
        VariantCreate(prompt=base.prompt, template=second, settings=ModelSettings(provider="scripted"))
    )
    registry.set_shares(base.prompt, {"1.0.0": 50, "1.1.0": 50})
    return PromptOptimizer(
        store,
        settings=Settings(database_url=store.url),
        providers={"scripted": ScriptedProvider(["{}"], cycle=True)},
    )


def block(po: PromptOptimizer, start: int, calls: int) -> list[int]:
    out = []
    clock = time.perf_counter_ns
    for i in range(start, start + calls):
        t0 = clock()
        po.run("ai_enrichment_en", LEAD, unit_id=f"lead-{i}")
        out.append(clock() - t0)
    return out


def percentiles(samples_ns: list[int]) -> tuple[float, float, float]:
    s = sorted(samples_ns)
    return s[len(s) // 2] / 1000, s[int(len(s) * 0.99)] / 1000, statistics.fmean(s) / 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000, help="per path")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=65_536))
    traced = OtelTelemetry(provider)
    off: list[int] = []
    on: list[int] = []
    with tempfile.TemporaryDirectory() as tmp, optimizer(tmp) as po:
        block(po, 0, 2_000)  # warm caches (bucket tables, compiled templates)
        for k in range(max(1, args.calls // 1_000)):
            po.telemetry = NO_TELEMETRY
            off += block(po, k * 2_000, 1_000)
            po.telemetry = traced
            on += block(po, k * 2_000 + 1_000, 1_000)
            po.recorder.flush(600)
    provider.shutdown()
    print(f"\n| run() ({len(off):,} calls each) | p50 µs | p99 µs | mean µs |\n|---|---|---|---|")
    for label, samples in (("tracing off (default)", off), ("one OpenTelemetry span (SDK)", on)):
        p50, p99, mean = percentiles(samples)
        print(f"| {label} | {p50:.1f} | {p99:.1f} | {mean:.1f} |")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
