"""The public hot path against MLflow's, like for like, and at the scale of 10,000 prompts.

Question 1 (default): what does an application pay per call for our public calls, next to MLflow's
public call for the same job? In one process, in interleaved rounds (each round runs every path once,
in a rotating order, so drift in machine load hits all paths alike):

- ``po.get_prompt(name, unit_id=…).messages(variables)``: route and render, the app calls its model;
- ``get_prompt`` + ``messages`` + ``po.track(…)``: the same, recorded;
- ``po.run(name, variables, unit_id=…)`` with a do-nothing provider (``NullProvider`` below: a fixed
  completion; the ``ScriptedProvider`` test double also keeps every call and counts words, which is the
  double's cost, not the layer's);
- MLflow ``mlflow.genai.load_prompt("prompts:/name/1").format(**variables)``, the prompt pinned to a
  version, with **both** the tracking and the registry URI set to a SQLite file as MLflow's docs say
  (with the tracking URI alone, each call probes for a Spark session).

Two active variants split traffic 50/50 by sticky unit ids; the English baseline (2 chat messages, 4
variables). Printed: p50/p99 of wall time and p99 of the thread's CPU time, and the ratios.

Question 2 (``--scale``): does it hold with 10,000 prompts of two active variants each (50/50, as in an
experiment), under Zipf and uniform traffic, and after a pause longer than the cache TTL (every plan
expired at once)? Prompts are inserted in bulk (registering 20,000 variants one by one takes minutes);
each is warmed by one call first. MLflow is not run at this scale.

    python bench/hot_path.py [--rounds 10] [--calls 5000]
    python bench/hot_path.py --scale [--prompts 10000] [--calls 200000] [--ttl 60]
"""

from __future__ import annotations

import argparse
import bisect
import gc
import os
import platform
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from itertools import accumulate

from sqlalchemy import insert, select

from promptevolve.client import PromptOptimizer
from promptevolve.core.settings import Settings
from promptevolve.core.types import Completion, ModelSettings, RenderedPrompt
from promptevolve.examples.lead_enrichment.baselines import load_baselines
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store
from promptevolve.store.migrate import upgrade
from promptevolve.store.tables import Prompt, PromptVariant, VariantState

LEAD = {
    "company_name": "Quillmark Labs",
    "website": "https://quillmark.io",
    "country": "United States",
    "description": "Quillmark Labs sells a contract-review SaaS to mid-sized law firms; 38 people.",
}
NAME = "ai_enrichment_en"

Sample = tuple[int, int]  # (wall ns, thread CPU ns)


class NullProvider:
    """A model that answers at once with a fixed completion: what is left is the layer's own cost."""

    name = "null"
    _REPLY = Completion(text="{}", prompt_tokens=700, completion_tokens=2, latency_ms=0.0, model="null")

    def complete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        return self._REPLY

    async def acomplete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        return self._REPLY


def timed(fn: Callable[[int], object], calls: int, offset: int = 0) -> list[Sample]:
    wall, cpu = time.perf_counter_ns, time.thread_time_ns
    out = []
    for i in range(offset, offset + calls):
        w0, c0 = wall(), cpu()
        fn(i)
        out.append((wall() - w0, cpu() - c0))
    return out


def pct(values: list[int], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))] / 1000


def summary(samples: list[Sample]) -> tuple[float, float, float, float]:
    walls, cpus = [w for w, _ in samples], [c for _, c in samples]
    return pct(walls, 0.5), pct(walls, 0.99), pct(cpus, 0.5), pct(cpus, 0.99)


def machine() -> None:
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


# --- question 1: like for like ----------------------------------------------------------------------


def our_store(tmp: str) -> PromptOptimizer:
    store = Store.from_url(f"sqlite:///{tmp}/bench.db")
    upgrade(store)
    registry = Registry(store)
    base = load_baselines()[0]
    registry.register(base.model_copy(update={"settings": ModelSettings(provider="scripted")}))
    registry.activate(base.prompt, "1.0.0")
    concise = {"role": "user", "content": base.template[1]["content"] + "\nBe concise."}
    registry.register(
        VariantCreate(
            prompt=base.prompt,
            template=[base.template[0], concise],
            settings=ModelSettings(provider="scripted"),
        )
    )
    registry.set_shares(base.prompt, {"1.0.0": 50, "1.1.0": 50})
    return PromptOptimizer(
        store, settings=Settings(database_url=store.url), providers={"scripted": NullProvider()}
    )


def mlflow_call(tmp: str) -> Callable[[int], object] | None:
    try:
        import mlflow
        import mlflow.genai
    except ImportError:
        return None
    uri = f"sqlite:///{tmp}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.genai.register_prompt(name=NAME, template=load_baselines()[0].template)
    print(f"mlflow {mlflow.__version__}: tracking and registry URI {uri}")
    return lambda _i: mlflow.genai.load_prompt(f"prompts:/{NAME}/1").format(**LEAD)


def like_for_like(rounds: int, calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        po = our_store(tmp)

        def track(i: int) -> None:
            handle = po.get_prompt(NAME, unit_id=f"lead-{i}")
            handle.messages(LEAD)
            po.track(handle, variables=LEAD, output="{}", latency_ms=1.0)

        paths: dict[str, Callable[[int], object]] = {
            "get_prompt().messages()": lambda i: po.get_prompt(NAME, unit_id=f"lead-{i}").messages(LEAD),
            "get_prompt().messages() + track()": track,
            "run() (do-nothing provider)": lambda i: po.run(NAME, LEAD, unit_id=f"lead-{i}"),
        }
        ml = mlflow_call(tmp)
        if ml is not None:
            paths["MLflow load_prompt(pinned).format()"] = ml
        samples: dict[str, list[Sample]] = {label: [] for label in paths}
        labels = list(paths)
        for label in labels:
            timed(paths[label], 500)  # warm: caches, compiled templates, MLflow's prompt cache
        po.flush(600)
        gc.collect()
        for r in range(rounds):
            order = labels[r % len(labels) :] + labels[: r % len(labels)]
            for label in order:
                samples[label] += timed(paths[label], calls, offset=r * calls)
            po.flush(600)  # the writer's work between rounds, not inside another path's timing
        stats = po.stats()
        po.close()
    print(f"\n{rounds} interleaved rounds × {calls:,} calls per path\n")
    print("| path | p50 µs | p99 µs | CPU p50 µs | CPU p99 µs |\n|---|---|---|---|---|")
    figures = {label: summary(s) for label, s in samples.items()}
    for label, (p50, p99, c50, c99) in figures.items():
        print(f"| {label} | {p50:.1f} | {p99:.1f} | {c50:.1f} | {c99:.1f} |")
    print(f"\nrecorder: {stats.recorder['written']:,} written, {stats.recorder['dropped']} dropped")
    if ml is None:
        print("\n(mlflow not installed: pip install mlflow to compare)")
        return
    mlflow_p50 = figures["MLflow load_prompt(pinned).format()"][0]
    for label in labels[:3]:
        print(f"MLflow p50 / {label} p50: {mlflow_p50 / figures[label][0]:.1f}×")
    print(
        f"targets: get_prompt().messages() ≥ 10× → {mlflow_p50 / figures[labels[0]][0]:.1f}×; "
        f"run() ≥ 3× → {mlflow_p50 / figures[labels[2]][0]:.1f}×"
    )


# --- question 2: 10,000 prompts ---------------------------------------------------------------------


def bulk_prompts(store: Store, n: int) -> list[str]:
    """n prompts with two active variants each at 50/50 (what the registry would hold, inserted fast)."""
    base = load_baselines()[0].template
    names = [f"prompt_{i:05d}" for i in range(n)]
    with store.write() as s:
        s.execute(insert(Prompt), [{"name": name, "config": {}} for name in names])
        ids = {name: pid for name, pid in s.execute(select(Prompt.name, Prompt.id))}
        variants = []
        for name in names:
            for minor, extra in ((0, ""), (1, "\nBe concise.")):
                template = [
                    {"role": "system", "content": f"{base[0]['content']} ({name})"},
                    {"role": "user", "content": base[1]["content"] + extra},
                ]
                variants.append(
                    {
                        "prompt_id": ids[name],
                        "version": f"1.{minor}.0",
                        "major": 1,
                        "minor": minor,
                        "patch": 0,
                        "variant_key": f"{ids[name]:08x}{minor:04x}",
                        "content_hash": f"{ids[name]:060x}{minor:04x}",
                        "kind": "baseline" if minor == 0 else "ab_test",
                        "template_kind": "chat",
                        "template": template,
                        "variables": sorted(LEAD),
                        "settings": {"provider": "scripted"},
                        "meta": {},
                    }
                )
        s.execute(insert(PromptVariant), variants)
        rows = s.execute(select(PromptVariant.id, PromptVariant.prompt_id)).all()
        s.execute(
            insert(VariantState),
            [{"variant_id": vid, "prompt_id": pid, "active": True, "share_bp": 5_000} for vid, pid in rows],
        )
    return names


def zipf_picker(n: int, s: float, rng: random.Random) -> Callable[[], int]:
    cum = list(accumulate(1.0 / (k + 1) ** s for k in range(n)))
    order = list(range(n))
    rng.shuffle(order)  # popular prompts spread over the table, not the first rows

    def pick() -> int:
        return order[bisect.bisect_left(cum, rng.random() * cum[-1])]

    return pick


def scale(n: int, calls: int, ttl: float, seed: int) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.from_url(f"sqlite:///{tmp}/scale.db")
        upgrade(store)
        t0 = time.perf_counter()
        names = bulk_prompts(store, n)
        po = PromptOptimizer(
            store,
            settings=Settings(database_url=store.url),
            providers={"scripted": NullProvider()},
            cache_ttl_s=ttl,
        )
        po.cache.preload(names)  # warm: every plan loaded in batches
        for name in names:  # and every template's segments parsed once
            po.get_prompt(name, unit_id="warm").messages(LEAD)
        t1 = time.perf_counter()
        po.cache.preload(names)  # fresh again: the warm-up above may have outlived the TTL
        print(
            f"{n:,} prompts × 2 active variants inserted and warmed in {t1 - t0:.0f} s; "
            f"all {n:,} plans reloaded in {time.perf_counter() - t1:.1f} s (cache.preload, batches of 1,000)"
        )
        zipf = zipf_picker(n, 1.1, rng)
        plans: dict[str, list[int]] = {
            "Zipf (s = 1.1)": [zipf() for _ in range(calls)],
            "uniform": [rng.randrange(n) for _ in range(calls)],
        }
        units = [f"user-{rng.randrange(1_000_000)}" for _ in range(calls)]
        results = []
        for label, picks in plans.items():
            gc.collect()
            samples = timed(
                lambda i, p=picks: po.get_prompt(names[p[i]], unit_id=units[i]).messages(LEAD), calls
            )
            results.append((label, calls, summary(samples)))
        print(f"pause {ttl + 2:.0f} s (TTL {ttl:.0f} s): every plan expires")
        time.sleep(ttl + 2)
        threads_before = threading.active_count()
        peak = [threads_before]
        batches_before = po.cache.stats.refresh_batches
        picks = plans["uniform"]

        def after_pause(i: int) -> None:
            po.get_prompt(names[picks[i]], unit_id=units[i]).messages(LEAD)
            if i % 1_000 == 0:
                peak[0] = max(peak[0], threading.active_count())

        samples = timed(after_pause, min(calls, 4 * n))
        results.append((f"uniform, right after the pause ({min(calls, 4 * n):,} calls)", 0, summary(samples)))
        refreshers = [t.name for t in threading.enumerate() if "refresh" in t.name]
        cache = po.cache.stats
        po.close()
    print("\n| traffic over 10,000 prompts | calls | p50 µs | p99 µs | CPU p50 µs | CPU p99 µs |")
    print("|---|---|---|---|---|---|")
    for label, count, (p50, p99, c50, c99) in results:
        shown = f"{count:,}" if count else ""
        print(f"| {label} | {shown} | {p50:.1f} | {p99:.1f} | {c50:.1f} | {c99:.1f} |")
    print(
        f"\nafter the pause: threads {threads_before} before, at most {peak[0]} during; refresher threads "
        f"{refreshers}; {cache.refresh_batches - batches_before} refresh batches; cache {cache}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument(
        "--calls", type=int, default=None, help="per path per round (default 5,000), or --scale"
    )
    parser.add_argument("--scale", action="store_true")
    parser.add_argument("--prompts", type=int, default=10_000)
    parser.add_argument("--ttl", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=20261206)
    args = parser.parse_args()
    machine()
    if args.scale:
        scale(args.prompts, args.calls or 200_000, args.ttl, args.seed)
    else:
        like_for_like(args.rounds, args.calls or 5_000)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
