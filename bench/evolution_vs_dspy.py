"""Does evolution improve the lead-enrichment prompt on held-out leads, and at what cost next to DSPy?

Question: on the bundled lead dataset, with the embedded local model (SmolLM2-135M, greedy), what test
score do the baseline ``ai_enrichment_en`` and our evolved variant reach (with 95 % bootstrap
intervals), how many model calls and how much wall time does evolution spend; and what do DSPy's
BootstrapFewShotWithRandomSearch and MIPROv2 (auto="light") reach on the same split with the same model
(served over a local OpenAI-compatible server) and how many calls do they make?

Both sides are scored by the same evaluator (``lead_enrichment``: industry, size band, AI maturity
with half credit one level off, growth-signal F1). English leads, split seed 1 (50/20/30, stratified:
250 / 100 / 150 of the 500); ``--train/--val/--test`` take the first N items of each split in key order
(default: the whole train and test splits, 20 validation leads). Beside the parent, the **trivial
baselines**, without a model call: the search's best constant answer (the best of the most frequent
whole gold answers of train) and the **per-field majority** answer (the most frequent industry, size
band, AI maturity and signal set of train, as one answer). Calls are reported apart: optimization
(``--budget``: proposals, train, validation) and test (the parent and the candidate on every test lead).
``--items-out`` writes one JSON line per test lead (input, expected, each arm's output and score);
the JSON gives the SD of the per-lead differences and the power of the test split for a 5-point gain.
``--workers N`` runs the 300 test calls in N processes (each its own model, greedy: the same answers),
the parent's beside the search: on a shared machine where one niced process gets a fraction of a core.
DSPy's calls are counted at the server (every HTTP request, retries and adapter fallbacks included).
``--dspy-minutes`` caps each DSPy optimizer's wall time: one that does not finish is reported as such.

    python bench/evolution_vs_dspy.py --skip-dspy --budget 60 --val 10 --minibatch 4 --threads 1 \
        --workers 3 --out lead.json --items-out lead-items.jsonl   # ours, the whole 150-lead test split
    python bench/evolution_vs_dspy.py --train 12 --val 4 --test 12 --budget 80   # the old, small race
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "providers"))

from promptevolve.evolution import (  # noqa: E402
    Budget,
    SearchConfig,
    SearchData,
    bootstrap_mean,
    create_strategy,
    gate,
    import_jsonl,
    load_examples,
    run_search,
)
from promptevolve.evolution.baselines import constant_baseline  # noqa: E402
from promptevolve.evolution.budget import BudgetMeter  # noqa: E402
from promptevolve.evolution.runner import CandidateRunner  # noqa: E402
from promptevolve.evolution.service import _candidate  # noqa: E402
from promptevolve.examples.lead_enrichment.baselines import install_baselines  # noqa: E402
from promptevolve.examples.lead_enrichment.evaluator import LeadEnrichment  # noqa: E402
from promptevolve.providers import LocalProvider  # noqa: E402
from promptevolve.registry import Registry  # noqa: E402
from promptevolve.store.engine import Store  # noqa: E402
from promptevolve.store.migrate import upgrade  # noqa: E402

DATASET = ROOT / "src" / "promptevolve" / "examples" / "lead_enrichment" / "leads.jsonl"


def candidate_rows(result: Any) -> list[dict[str, Any]]:
    """Every scored candidate of a search, as the sequential and the parallel run both report it."""
    return [
        {
            "strategy": c.candidate.strategy,
            "rung": c.rung,
            "train": round(c.train_score, 3),
            "items": c.train_items,
            "validation": c.validation_score,
            "chars": c.candidate.chars,
            "rationale": c.candidate.rationale[:100],
        }
        for c in result.candidates
    ]


def machine() -> str:
    load = os.getloadavg()[0]
    python = platform.python_version()
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {python}, load {load:.1f}"


def setup(args: argparse.Namespace) -> tuple[Store, Any, SearchData]:
    folder = tempfile.mkdtemp(prefix="bench-evo-")
    store = Store.from_url(f"sqlite:///{folder}/bench.db")
    upgrade(store)
    registry = Registry(store, actor="bench")
    install_baselines(registry)
    import_jsonl(store, "leads", DATASET, seed=1, evaluator="lead_enrichment")
    split = {s: load_examples(store, "leads", split=s, locale="en") for s in ("train", "validation", "test")}
    data = SearchData(
        split["train"][: args.train],
        split["validation"][: args.val],
        split["test"][: args.test],
        registry.get_prompt("ai_enrichment_en").description or "",
    )
    return store, registry.get_variant("ai_enrichment_en", "1.0.0"), data


def run_ours(
    args: argparse.Namespace, parent: Any, data: SearchData, provider: LocalProvider
) -> dict[str, Any]:
    config = SearchConfig(
        strategies=tuple(create_strategy(s) for s in args.strategies.split(",")),
        budget=Budget(max_calls=args.budget),
        seed=args.seed,
        minibatch=args.minibatch,
        finalists=1,
    )
    started = time.perf_counter()
    result = run_search(
        parent=_candidate(parent),
        data=data,
        config=config,
        evaluator=LeadEnrichment(),
        provider=provider,
        on_progress=lambda p: (
            print(f"  [{p.stage}] {p.calls}/{p.max_calls} calls {p.message}", flush=True)
            if p.message
            else None
        ),
    )
    wall = time.perf_counter() - started
    out: dict[str, Any] = {
        "calls": result.spend.calls,
        "optimization_calls": result.spend.calls,
        "proposal_calls": result.spend.proposal_calls,
        "train_calls": result.spend.train_calls,
        "validation_calls": result.spend.validation_calls,
        "test_calls": result.test.spend.calls,
        "tokens": result.spend.tokens,
        "wall_s": round(wall, 1),
        "search_wall_s": round(result.wall_seconds, 1),
        "unusable": len(result.unusable),
        "invalid": len(result.invalid),
        "stopped": result.stopped,
        "verdict": result.verdict,
        "winner": None
        if result.winner is None
        else {"strategy": result.winner.strategy, "rationale": result.winner.rationale},
        "template": None if result.winner is None else result.winner.template,
    }
    if result.gate is not None:
        g = result.test.parent_gate or result.gate
        out["baseline_test"] = [g.parent.mean, g.parent.low, g.parent.high]
        out["evolved_test"] = [g.child.mean, g.child.low, g.child.high]
        out["improvement"] = [g.improvement.mean, g.improvement.low, g.improvement.high]
        out["gate_passed"] = result.gate.passed
        out["gate_reference"] = result.test.reference
        out["gate_reason"] = result.gate.reason
    out["parent_validation"] = result.parent_validation
    out["candidates"] = candidate_rows(result)
    out["finalists_validation"] = [
        {"strategy": f.candidate.strategy, "validation": f.validation_score} for f in result.finalists
    ]
    out["unusable_reasons"] = [u.reason for u in result.unusable]
    parent_results = list(result.parent_test)
    child_results = list(result.winner_test)
    if not parent_results:
        # No winner reached the test split: score the baseline (and the best finalist, for reference)
        # on it outside the run's budget, so the figures have a baseline. Reported separately.
        meter = BudgetMeter(Budget(max_calls=2 * len(data.test)))
        runner = CandidateRunner(provider=provider, evaluator=LeadEnrichment(), meter=meter)
        parent_results = list(runner.run(_candidate(parent), data.test, purpose="test").results)
        out["baseline_test"] = _interval([r.score for r in parent_results])
        if result.finalists:
            best = result.finalists[0].candidate
            child_results = list(runner.run(best, data.test, purpose="test").results)
            out["best_finalist_test_not_selected"] = _interval([r.score for r in child_results])
            out["best_finalist"] = {"strategy": best.strategy, "template": best.template}
            g = gate(
                [r.score for r in parent_results],
                [r.score for r in child_results],
                rng=np.random.default_rng(args.seed),
            )
            out["best_finalist_improvement_not_selected"] = [
                g.improvement.mean,
                g.improvement.low,
                g.improvement.high,
            ]
        out["reference_calls_outside_budget"] = meter.spend().calls
        out["test_calls"] = meter.spend().calls
    out["parent_test_scores"] = [r.score for r in parent_results]
    out["child_test_scores"] = [r.score for r in child_results]
    out["trivial_baselines"] = trivial_baselines(data)
    if len(child_results) == len(parent_results) and len(parent_results) >= 2:
        out["power"] = power(out["parent_test_scores"], out["child_test_scores"])
    out["_items"] = items(data, parent_results, child_results)
    return out


def _score_shard(candidate: Any, examples: list[Any], threads: int | None) -> list[Any]:
    """In a worker process: ``candidate`` on ``examples`` with its own local model (greedy, so the same
    answers as in the main process)."""
    provider = LocalProvider(n_threads=threads)
    meter = BudgetMeter(Budget(max_calls=len(examples)))
    runner = CandidateRunner(provider=provider, evaluator=LeadEnrichment(), meter=meter)
    return list(runner.run(candidate, examples, purpose="test").results)


def _submit(pool: Executor, candidate: Any, examples: Any, args: argparse.Namespace) -> list[Future[Any]]:
    shards = [list(examples[i :: args.workers]) for i in range(args.workers)]
    return [pool.submit(_score_shard, candidate, shard, args.threads) for shard in shards if shard]


def _gather(futures: list[Future[Any]], examples: Any) -> list[Any]:
    by_key = {r.key: r for f in futures for r in f.result()}
    return [by_key[e.key] for e in examples]


def run_ours_parallel(
    args: argparse.Namespace, parent: Any, data: SearchData, provider: LocalProvider
) -> dict[str, Any]:
    """The search in this process; the test stage (parent and winner on every test lead) in
    ``--workers`` processes, the parent's shards started at once, beside the search. The search's own
    test stage gets 2 leads only (its verdict is ignored); the verdict is recomputed here on the whole
    test split with the search's rules: a paired bootstrap (``gate``, the run's seed) against the
    stronger of the parent and the best constant answer; ``format_only`` when only the parent is beaten."""
    evaluator = LeadEnrichment()
    config = SearchConfig(
        strategies=tuple(create_strategy(s) for s in args.strategies.split(",")),
        budget=Budget(max_calls=args.budget),
        seed=args.seed,
        minibatch=args.minibatch,
        finalists=1,
        test_items=2,
    )
    started = time.perf_counter()
    pool = ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn"))
    parent_candidate = _candidate(parent)
    parent_futures = _submit(pool, parent_candidate, data.test, args)
    result = run_search(
        parent=parent_candidate,
        data=data,
        config=config,
        evaluator=evaluator,
        provider=provider,
        on_progress=lambda p: (
            print(f"  [{p.stage}] {p.calls}/{p.max_calls} calls {p.message}", flush=True)
            if p.message
            else None
        ),
    )
    search_wall = time.perf_counter() - started
    print(f"search done in {search_wall:.0f} s, winner: {result.winner is not None}", flush=True)
    tested = result.winner or (result.finalists[0].candidate if result.finalists else None)
    child_futures = [] if tested is None else _submit(pool, tested, data.test, args)
    parent_results = _gather(parent_futures, data.test)
    print(f"parent tested at {time.perf_counter() - started:.0f} s", flush=True)
    child_results = _gather(child_futures, data.test) if tested is not None else []
    pool.shutdown()
    wall = time.perf_counter() - started
    parent_scores = [r.score for r in parent_results]
    child_scores = [r.score for r in child_results]
    out: dict[str, Any] = {
        "optimization_calls": result.spend.calls,
        "proposal_calls": result.spend.proposal_calls,
        "train_calls": result.spend.train_calls,
        "validation_calls": result.spend.validation_calls,
        "search_internal_test_calls_ignored": result.test.spend.calls,
        "test_calls": len(parent_results) + len(child_results),
        "tokens": result.spend.tokens,
        "search_wall_s": round(search_wall, 1),
        "wall_s": round(wall, 1),
        "workers": args.workers,
        "unusable": len(result.unusable),
        "invalid": len(result.invalid),
        "stopped": result.stopped,
        "winner": None
        if result.winner is None
        else {"strategy": result.winner.strategy, "rationale": result.winner.rationale},
        "tested": None if tested is None else {"strategy": tested.strategy, "rationale": tested.rationale},
        "template": None if tested is None else tested.template,
        "parent_validation": result.parent_validation,
        "finalists_validation": [
            {"strategy": f.candidate.strategy, "validation": f.validation_score} for f in result.finalists
        ],
        "candidates": candidate_rows(result),
        "unusable_reasons": [u.reason for u in result.unusable],
        "baseline_test": _interval(parent_scores),
        "parent_test_scores": parent_scores,
        "child_test_scores": child_scores,
        "trivial_baselines": trivial_baselines(data),
    }
    if child_scores:
        rng = np.random.default_rng(args.seed)
        g = gate(parent_scores, child_scores, rng=rng)
        out["evolved_test"] = [g.child.mean, g.child.low, g.child.high]
        out["improvement"] = [g.improvement.mean, g.improvement.low, g.improvement.high]
        out["power"] = power(parent_scores, child_scores)
        constant = constant_baseline(data.train, data.test, evaluator)
        reference, reference_scores = "parent", parent_scores
        if constant is not None and constant.mean >= float(np.mean(parent_scores)):
            reference, reference_scores = constant.name, list(constant.scores)
        verdict_gate = g if reference == "parent" else gate(reference_scores, child_scores, rng=rng)
        if result.winner is None:
            verdict = "no_candidate (the tested prompt is the best finalist, not selected on validation)"
        elif verdict_gate.passed:
            verdict = "passed"
        elif reference != "parent" and g.improvement.mean > 0:
            verdict = "format_only"
        else:
            verdict = "rejected"
        out["gate"] = {
            "reference": reference,
            "improvement_over_reference": [
                verdict_gate.improvement.mean,
                verdict_gate.improvement.low,
                verdict_gate.improvement.high,
            ],
            "passed": verdict_gate.passed,
            "reason": verdict_gate.reason,
            "verdict": verdict,
        }
    out["_items"] = items(data, parent_results, child_results)
    return out


MAJORITY_FIELDS = ("industry", "size_band", "ai_maturity")


def per_field_majority(train: Any) -> dict[str, Any]:
    """The answer made of the most frequent value of each field on train (signals: the commonest set)."""
    answer: dict[str, Any] = {}
    for name in MAJORITY_FIELDS:
        answer[name] = Counter(e.expected[name] for e in train).most_common(1)[0][0]
    signals = Counter(tuple(e.expected["growth_signals"]) for e in train).most_common(1)[0][0]
    answer["growth_signals"] = list(signals)
    return answer


def trivial_baselines(data: SearchData) -> list[dict[str, Any]]:
    """The answers that learn nothing from the lead, scored on the test leads (no model call)."""
    evaluator = LeadEnrichment()
    found: list[dict[str, Any]] = []
    constant = constant_baseline(data.train, data.test, evaluator)
    if constant is not None:
        found.append(
            {"name": constant.name, "detail": constant.detail, "test": _interval(list(constant.scores))}
        )
    majority = per_field_majority(data.train)
    text = json.dumps(majority)
    scores = [evaluator.evaluate(output=text, expected=e.expected).score for e in data.test]
    found.append(
        {"name": "per-field majority", "detail": f"always answers {text}", "test": _interval(scores)}
    )
    return found


def power(parent: list[float], child: list[float], delta: float = 0.05) -> dict[str, float]:
    """The SD of the per-lead differences, the leads a 5-point gain needs at 80 % power, and the power
    this test split has for it (paired, two-sided alpha 0.05, normal approximation)."""
    diffs = np.asarray(child, dtype=float) - np.asarray(parent, dtype=float)
    sd = float(diffs.std(ddof=1))
    z_alpha, z_power = NormalDist().inv_cdf(0.975), NormalDist().inv_cdf(0.80)
    needed = ((z_alpha + z_power) * sd / delta) ** 2 if sd > 0 else 0.0
    achieved = NormalDist().cdf(delta * math.sqrt(diffs.size) / sd - z_alpha) if sd > 0 else 1.0
    return {
        "n": int(diffs.size),
        "sd_of_differences": round(sd, 4),
        "leads_needed_for_5_points_at_80pct": math.ceil(needed),
        "power_for_5_points": round(achieved, 3),
        "differing_leads": int(np.count_nonzero(diffs)),
    }


def items(data: SearchData, parent: list[Any], child: list[Any]) -> list[dict[str, Any]]:
    """One row per test lead: inputs, gold answer, each arm's output and score."""
    by_key = {r.key: r for r in child}
    rows = []
    for example, p in zip(data.test, parent, strict=False):
        c = by_key.get(p.key)
        rows.append(
            {
                "key": example.key,
                "inputs": dict(example.inputs),
                "expected": example.expected,
                "parent_output": p.output,
                "parent_score": p.score,
                "candidate_output": None if c is None else c.output,
                "candidate_score": None if c is None else c.score,
            }
        )
    return rows


def _interval(scores: list[float]) -> list[float]:
    i = bootstrap_mean(scores, rng=np.random.default_rng(0))
    return [round(i.mean, 4), round(i.low, 4), round(i.high, 4)]


# --- DSPy ----------------------------------------------------------------------------------------


def dspy_side(
    args: argparse.Namespace, data: SearchData, provider: LocalProvider, baseline: list[float]
) -> dict[str, Any]:
    import dspy
    from openai_server import running_server

    evaluator = LeadEnrichment()

    class Enrich(dspy.Signature):
        """Enrich a B2B sales lead: industry (one of software, fintech, healthcare, biotech_pharma, ecommerce_retail, manufacturing, logistics, energy, education, media_entertainment, marketing_advertising, real_estate, professional_services, telecom, food_agriculture, travel_hospitality, public_sector_nonprofit, cybersecurity, automotive, construction), size_band (1-10, 11-50, 51-200, 201-1000, 1001-5000, 5000+), ai_maturity (1-5), growth_signals (list from hiring, funding_round, new_product, international_expansion, partnership, acquisition, ai_adoption, new_office, revenue_growth, leadership_hire)."""  # noqa: E501

        company_name: str = dspy.InputField()
        website: str = dspy.InputField()
        country: str = dspy.InputField()
        description: str = dspy.InputField()
        industry: str = dspy.OutputField()
        size_band: str = dspy.OutputField()
        ai_maturity: int = dspy.OutputField()
        growth_signals: list[str] = dspy.OutputField()

    def to_examples(items: Any) -> list[Any]:
        return [
            dspy.Example(**dict(e.inputs), **dict(e.expected)).with_inputs(*e.inputs.keys()) for e in items
        ]

    def metric(example: Any, pred: Any, trace: Any = None) -> float:
        answer = {
            k: getattr(pred, k, None) for k in ("industry", "size_band", "ai_maturity", "growth_signals")
        }
        expected = {k: example[k] for k in ("industry", "size_band", "ai_maturity", "growth_signals")}
        score = evaluator.evaluate(output=json.dumps(answer, default=str), expected=expected).score
        return score if trace is None else float(score >= 0.75)

    def score_on(program: Any, items: list[Any]) -> list[float]:
        scores = []
        for ex in items:
            try:
                scores.append(metric(ex, program(**ex.inputs())))
            except Exception:  # a reply DSPy cannot parse is a wrong answer
                scores.append(0.0)
        return scores

    train, val, test = to_examples(data.train), to_examples(data.validation), to_examples(data.test)
    results: dict[str, Any] = {}
    with running_server(provider) as server:
        lm = dspy.LM(
            "openai/smollm2-135m-instruct",
            api_base=f"{server.base_url}",
            api_key="local",
            temperature=0.0,
            max_tokens=150,
            cache=False,
            num_retries=0,
        )
        dspy.configure(lm=lm)
        program = dspy.Predict(Enrich)
        before = len(server.requests)
        zero = score_on(program, test)
        results["dspy_zero_shot_test"] = _interval(zero)
        results["dspy_zero_shot_calls"] = len(server.requests) - before
        optimizers = {
            "bootstrap_fewshot_rs": lambda: dspy.BootstrapFewShotWithRandomSearch(
                metric=metric,
                max_bootstrapped_demos=2,
                max_labeled_demos=4,
                num_candidate_programs=2,
                num_threads=1,
            ).compile(program, trainset=train, valset=val),
            "miprov2_light": lambda: dspy.MIPROv2(
                metric=metric, auto="light", num_threads=1, seed=args.seed
            ).compile(program, trainset=train, valset=val, requires_permission_to_run=False),
        }
        for name, compile_ in optimizers.items():
            before = len(server.requests)
            started = time.perf_counter()
            box: dict[str, Any] = {}

            def target(c: Any = compile_, b: dict[str, Any] = box) -> None:
                try:
                    b["program"] = c()
                except Exception as exc:  # report, never crash the bench
                    b["error"] = f"{type(exc).__name__}: {exc}"[:300]

            worker = threading.Thread(target=target, daemon=True)
            worker.start()
            worker.join(args.dspy_minutes * 60)
            compile_calls = len(server.requests) - before
            entry: dict[str, Any] = {
                "compile_calls": compile_calls,
                "wall_s": round(time.perf_counter() - started, 1),
            }
            if worker.is_alive():
                entry["status"] = f"did not finish within {args.dspy_minutes} minutes"
            elif "error" in box:
                entry["status"] = box["error"]
            else:
                test_scores = score_on(box["program"], test)
                entry["status"] = "finished"
                entry["test"] = _interval(test_scores)
                if len(baseline) == len(test_scores):
                    g = gate(baseline, test_scores, rng=np.random.default_rng(0))
                    entry["vs_baseline"] = [g.improvement.mean, g.improvement.low, g.improvement.high]
            results[name] = entry
            print(f"  dspy {name}: {entry}", flush=True)
            if worker.is_alive():
                break  # the model is still busy with the unfinished optimizer
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=int, default=None, help="train leads (default: all, 250)")
    parser.add_argument("--val", type=int, default=20, help="validation leads (default 20 of 100)")
    parser.add_argument("--test", type=int, default=None, help="test leads (default: all, 150)")
    parser.add_argument("--budget", type=int, default=150, help="optimization calls (test apart)")
    parser.add_argument("--minibatch", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--strategies",
        default="few_shot,retrieval",
        help="the ones that need no proposer model (a 135M proposer wrote no usable instruction)",
    )
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all cores)")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes for the test stage (0: in the search's process, sequentially)",
    )
    parser.add_argument("--skip-dspy", action="store_true")
    parser.add_argument("--dspy-minutes", type=float, default=12.0)
    parser.add_argument("--out", type=Path, default=None, help="Write the figures as JSON here too")
    parser.add_argument("--items-out", type=Path, default=None, help="Per-lead test results (JSONL)")
    args = parser.parse_args()
    random.seed(args.seed)
    print(f"machine: {machine()}")
    _, parent, data = setup(args)
    print(
        f"split: train {len(data.train)}, validation {len(data.validation)}, "
        f"test {len(data.test)} English leads"
    )
    provider = LocalProvider(n_threads=args.threads)
    started = time.perf_counter()
    ours = (run_ours_parallel if args.workers > 0 else run_ours)(args, parent, data, provider)
    rows = ours.pop("_items")
    if args.items_out:
        args.items_out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print("ours:", json.dumps({k: v for k, v in ours.items() if k != "template"}, indent=1), flush=True)
    figures: dict[str, Any] = {
        "machine": machine(),
        "args": vars(args) | {"out": str(args.out), "items_out": str(args.items_out)},
        "ours": ours,
    }
    if not args.skip_dspy:
        figures["dspy"] = dspy_side(args, data, provider, ours.get("parent_test_scores", []))
    figures["total_wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(figures, indent=1, default=str))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    main()
