"""Per-call overhead of the layer on the hot path, with the model taken out (scripted provider).

Question: how much does promptevolve add to each model call? Measured per call, 100k calls:
- the four steps of the issue: resolve (cached plan) + assign (sticky arm) + render + enqueue;
- the whole ``PromptOptimizer.run()`` (adds the scripted provider, fallback bookkeeping, the result
  object and the execution row);
and, for scale, MLflow's ``mlflow.genai.load_prompt`` of the same prompt on a local SQLite tracking
store (if mlflow is installed), with the ratio.

    python bench/hot_path.py [--calls 100000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

from promptevolve.client import PromptOptimizer
from promptevolve.core.settings import Settings
from promptevolve.core.types import ModelSettings
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.registry import Registry, VariantCreate, load_baselines
from promptevolve.routing.buckets import assign
from promptevolve.store.engine import Store
from promptevolve.store.migrate import upgrade
from promptevolve.templates import render

LEAD = {
    "company_name": "Quillmark Labs",
    "website": "https://quillmark.io",
    "country": "United States",
    "description": "Quillmark Labs sells a contract-review SaaS to mid-sized law firms; 38 people.",
}


def percentiles(samples_ns: list[int]) -> tuple[float, float, float]:
    s = sorted(samples_ns)
    return s[len(s) // 2] / 1000, s[int(len(s) * 0.99)] / 1000, statistics.fmean(s) / 1000


def setup(tmp: str) -> tuple[PromptOptimizer, Store]:
    store = Store.from_url(f"sqlite:///{tmp}/bench.db")
    upgrade(store)
    registry = Registry(store)
    base = load_baselines()[0]
    registry.register(base.model_copy(update={"settings": ModelSettings(provider="scripted")}))
    registry.activate(base.prompt, "1.0.0")
    registry.register(
        VariantCreate(
            prompt=base.prompt,
            template=[
                base.template[0],
                {"role": "user", "content": base.template[1]["content"] + "\nBe concise."},
            ],
            settings=ModelSettings(provider="scripted"),
        )
    )
    registry.set_shares(base.prompt, {"1.0.0": 50, "1.1.0": 50})
    po = PromptOptimizer(
        store,
        settings=Settings(database_url=store.url),
        providers={"scripted": ScriptedProvider(["{}"], cycle=True)},
    )
    po.recorder.capacity = 2_000_000  # measure enqueue, not drops
    return po, store


def steps(po: PromptOptimizer, calls: int) -> list[int]:
    """resolve + assign + render + enqueue, timed together per call."""
    name = "ai_enrichment_en"
    out = []
    clock = time.perf_counter_ns
    for i in range(calls):
        t0 = clock()
        plan = po.cache.get(name).value
        version = assign(f"prompt:{name}", plan.routing_arms(), f"lead-{i}")
        variant = plan.variant(version)
        render(variant.template, LEAD)
        po.recorder.enqueue(
            "executions",
            {
                "id": f"{i:032x}",
                "prompt_id": plan.prompt_id,
                "variant_id": variant.id,
                "status": "ok",
                "ts": 0.0,
            },
        )
        out.append(clock() - t0)
    return out


def full_run(po: PromptOptimizer, calls: int) -> list[int]:
    out = []
    clock = time.perf_counter_ns
    for i in range(calls):
        t0 = clock()
        po.run("ai_enrichment_en", LEAD, unit_id=f"lead-{i}")
        out.append(clock() - t0)
    return out


def mlflow_load(calls: int, tmp: str) -> list[int] | None:
    try:
        import mlflow
        import mlflow.genai
    except ImportError:
        return None
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    base = load_baselines()[0]
    mlflow.genai.register_prompt(name="ai_enrichment_en", template=base.template)
    out = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        t0 = clock()
        mlflow.genai.load_prompt("prompts:/ai_enrichment_en/1")
        out.append(clock() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--mlflow-calls", type=int, default=2_000)
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        po, _store = setup(tmp)
        steps(po, 2_000)  # warm caches (bucket tables, compiled templates)
        po.recorder.flush(60)
        s = steps(po, args.calls)
        po.recorder.flush(600)
        full_run(po, 2_000)
        f = full_run(po, args.calls)
        po.recorder.flush(600)
        po.close()
        m = mlflow_load(args.mlflow_calls, tmp)
    rows = [("resolve + assign + render + enqueue", s), ("PromptOptimizer.run() with a scripted model", f)]
    if m is not None:
        rows.append(("mlflow.genai.load_prompt (SQLite store)", m))
    print(f"\n| path ({args.calls:,} calls) | p50 µs | p99 µs | mean µs |\n|---|---|---|---|")
    for label, samples in rows:
        p50, p99, mean = percentiles(samples)
        print(f"| {label} | {p50:.1f} | {p99:.1f} | {mean:.1f} |")
    if m is not None:
        print(
            f"\nMLflow load_prompt p50 / promptevolve resolve+assign+render+enqueue p50: "
            f"{percentiles(m)[0] / percentiles(s)[0]:.0f}×"
        )
    else:
        print("\n(mlflow not installed: pip install mlflow to compare)")


if __name__ == "__main__":
    main()
