"""The embedded local model on this machine: speed of an enrichment call, and the SDK's memory.

Questions: how long does one lead enrichment take with the local model through the SDK (tokens/s, s per
call), and how much memory does an SDK process take with the model loaded (target < 400 MiB) and
without it (target < 80 MiB)? Each memory figure is the peak RSS of a fresh subprocess.

    python bench/local_model.py [--leads 6]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import json, resource, sys, tempfile, time
    from promptevolve.client import PromptOptimizer
    from promptevolve.core.settings import Settings
    from promptevolve.examples.lead_enrichment.grading import grade
    from promptevolve.registry import Registry
    from promptevolve.examples.lead_enrichment.baselines import install_baselines
    from promptevolve.store.migrate import open_store
    mode, n = sys.argv[1], int(sys.argv[2])
    tmp = tempfile.mkdtemp()
    settings = Settings(database_url=f"sqlite:///{tmp}/m.db")
    store = open_store(settings)
    install_baselines(Registry(store))
    providers = None
    if mode == "scripted":
        from promptevolve.providers.scripted import ScriptedProvider
        providers = {"local": ScriptedProvider(['{"industry": "software"}'], cycle=True)}
    with open(sys.argv[3], encoding="utf-8") as source:
        every = [json.loads(line) for line in source]
    english = [lead for lead in every if lead["locale"] == "en"]
    french = [lead for lead in every if lead["locale"] == "fr"]
    leads = english[: n // 2] + french[: n - n // 2]
    out = []
    with PromptOptimizer(store, settings=settings, providers=providers) as po:
        for lead in leads:
            name = "ai_enrichment_" + lead["locale"]
            t = time.perf_counter()
            r = po.run(name, lead["inputs"], unit_id=lead["id"])
            out.append({"s": time.perf_counter() - t, "in": r.prompt_tokens, "out": r.completion_tokens,
                        "status": r.status, "parsed": r.parsed is not None,
                        "grade": grade(r.parsed, lead["expected"])["overall"]})
        po.flush()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"calls": out, "peak_mib": peak_mib}))
""")


def child(mode: str, n: int, leads_path: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(n), leads_path], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=6)
    args = parser.parse_args()
    from importlib.resources import files

    leads_path = str(files("promptevolve.examples.lead_enrichment") / "leads.jsonl")
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    local = child("local", args.leads, leads_path)
    scripted = child("scripted", args.leads, leads_path)
    calls = local["calls"]
    seconds = [c["s"] for c in calls]
    decode = sum(c["out"] for c in calls) / sum(seconds)
    print("\n| figure | value |\n|---|---|")
    print(f"| enrichment calls (EN+FR baselines, local model) | {len(calls)} |")
    print(
        f"| seconds per call: mean / min / max | {sum(seconds) / len(seconds):.2f} / {min(seconds):.2f} / "
        f"{max(seconds):.2f} |"
    )
    print(
        f"| prompt + completion tokens per call (mean) | {sum(c['in'] for c in calls) / len(calls):.0f} + "
        f"{sum(c['out'] for c in calls) / len(calls):.0f} |"
    )
    print(f"| completion tokens per second of call time | {decode:.1f} |")
    print(f"| outputs that parsed as JSON | {sum(c['parsed'] for c in calls)}/{len(calls)} |")
    grades = [c["grade"] for c in calls]
    mean_grade = sum(grades) / len(grades)
    print(f"| mean grade against the gold labels (4 fields, unparsable = 0) | {mean_grade:.2f} |")
    print(f"| peak RSS, SDK process with the local model loaded | {local['peak_mib']:.0f} MiB |")
    print(f"| peak RSS, SDK process without a model (scripted) | {scripted['peak_mib']:.0f} MiB |")


if __name__ == "__main__":
    main()
