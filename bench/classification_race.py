"""The fair race on a public classification set: promptevolve's evolution against DSPy 3.4.1.

Question: on a bundled public set (``sms_spam`` or ``tweet_sentiment``: fixed, class-balanced splits),
with the bundled SmolLM2-135M as the task model and at most ``--budget`` (520) optimization calls per
method, what held-out accuracy does each method reach, and is promptevolve's at least 5 points above
the better of the majority class and DSPy's best, with its interval's lower bound above the majority?

Arms, every one answering the **same test items** (so every comparison is paired):

* ``majority``: the constant answer most frequent in train (free: the splits are balanced, so 50 %);
* ``parent``: the set's own instruction as a user writes it (free text, up to 8 tokens, stop at a
  newline); ``parent_constrained``: the same with ``choices`` (the labels enforced by grammar);
* ``promptevolve``: ``run_search`` from ``parent`` with ``--strategies`` (default labels, few_shot,
  retrieval: those that need no proposer model) and ``Budget(max_calls=--budget)``; its answer is the
  winner's (the parent's when no candidate won validation), whatever the gate said (the verdict is
  printed beside it);
* DSPy (``bench/race_dspy.py``): zero-shot ``Predict``, BootstrapFewShot, KNNFewShot (MiniLM),
  BootstrapFewShotWithRandomSearch, MIPROv2, GEPA; the same model behind a local OpenAI-compatible
  server, the labels enforced by structured output, the calls counted and capped at the server.

Splits: train = the set's 200 train items (the demo pool of every method), validation = the first
``--val`` validation items (balanced; the validation every method may use, sized so that validating
three prompts fits the budget), test = ``--test`` items, a seeded class-balanced sample of the set's 600
(all of them by default). ``--fit-minutes M`` first times one classification call of each kind, then
picks the largest test size (even, ≤ 600) whose planned calls fit in M minutes, and says so.

Statistics: accuracy with its 95 % Wilson interval; between two arms the paired difference with a 95 %
paired-bootstrap interval and McNemar's exact test (two-sided binomial test on the discordant items,
SciPy). ``--out`` writes the figures as JSON, ``--items`` one JSON line per test item with every arm's
answer.

    HF_HUB_OFFLINE=1 nice -n 10 python bench/classification_race.py --set tweet_sentiment
    python bench/classification_race.py --set sms_spam --test 200 --arms promptevolve,dspy_bootstrap_fewshot
"""

from __future__ import annotations

import os

# One BLAS thread (before NumPy loads): the MiniLM index and query encodings otherwise start a thread
# per core that spins beside llama.cpp's thread (measured 15x slower per query on the shared machine,
# BENCHMARKS.md, retrieval).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from scipy.stats import binomtest  # noqa: E402

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "tests" / "providers"))
sys.path.insert(0, str(ROOT))

import race_dspy  # noqa: E402

from promptevolve.core.types import ModelSettings  # noqa: E402
from promptevolve.evolution import Budget, SearchConfig, SearchData, create_strategy, gate, run_search  # noqa: E402
from promptevolve.evolution.budget import BudgetMeter  # noqa: E402
from promptevolve.evolution.candidates import Candidate, ItemResult  # noqa: E402
from promptevolve.evolution.datasets import Example  # noqa: E402
from promptevolve.evolution.parts import parts_from_template  # noqa: E402
from promptevolve.evolution.runner import CandidateRunner  # noqa: E402
from promptevolve.examples.public_sets import PUBLIC_SETS, PublicSet  # noqa: E402
from promptevolve.providers.local import LocalProvider  # noqa: E402
from promptevolve.scoring.evaluators.normalized import NormalizedMatch  # noqa: E402
from promptevolve.templates import parse_template, render  # noqa: E402

DSPY_ARMS = (
    "dspy_zero_shot",
    "dspy_bootstrap_fewshot",
    "dspy_knn_fewshot",
    "dspy_bootstrap_rs",
    "dspy_miprov2",
    "dspy_gepa",
)
ALL_ARMS = ("promptevolve", *DSPY_ARMS)
#: Zero-shot Predict is left out by default: ``parent_constrained`` is the same baseline on our side.
DEFAULT_ARMS = tuple(a for a in ALL_ARMS if a != "dspy_zero_shot")


# --- data ----------------------------------------------------------------------------------------


def load_splits(spec: PublicSet, n_train: int, n_val: int) -> dict[str, list[Example]]:
    items = [json.loads(line) for line in spec.path.read_text(encoding="utf-8").splitlines()]
    out: dict[str, list[Example]] = {"train": [], "validation": [], "test": []}
    for item in items:
        out[item["split"]].append(Example(item["id"], item["split"], item["inputs"], item["expected"]))
    out["train"] = balanced(out["train"], n_train, spec.labels, seed=None)
    out["validation"] = balanced(out["validation"], n_val, spec.labels, seed=None)
    return out


def balanced(items: list[Example], n: int, labels: Sequence[str], seed: int | None) -> list[Example]:
    """``n`` items alternating the labels (seeded order within a label when ``seed`` is given)."""
    if n >= len(items):
        return items
    groups = [[e for e in items if e.expected == label] for label in labels]
    if seed is not None:
        rng = random.Random(seed)
        groups = [rng.sample(g, len(g)) for g in groups]
    mixed = [e for row in zip(*groups, strict=False) for e in row]
    return mixed[:n]


# --- statistics ----------------------------------------------------------------------------------


def wilson(k: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def compare(a: Sequence[float], b: Sequence[float], seed: int) -> dict[str, float]:
    """b − a on the same items: paired-bootstrap 95 % interval and McNemar's exact p."""
    g = gate(list(a), list(b), rng=np.random.default_rng(seed), resamples=4000)
    b_only = sum(1 for x, y in zip(a, b, strict=True) if y > x)
    a_only = sum(1 for x, y in zip(a, b, strict=True) if x > y)
    p = 1.0 if a_only + b_only == 0 else binomtest(b_only, a_only + b_only, 0.5).pvalue
    return {
        "diff": g.improvement.mean,
        "low": g.improvement.low,
        "high": g.improvement.high,
        "b_only": b_only,
        "a_only": a_only,
        "mcnemar_p": float(p),
    }


# --- timing ---------------------------------------------------------------------------------------


def time_calls(provider: Any, spec: PublicSet, items: Sequence[Example], n: int = 6) -> float:
    """Seconds per call of the constrained zero-shot prompt (after one warm-up call)."""
    template = parse_template(spec.template)
    settings = ModelSettings(provider="local", max_tokens=4, temperature=0.0, choices=list(spec.labels))
    provider.complete(render(template, items[0].inputs).prompt, settings)
    started = time.perf_counter()
    for e in items[1 : n + 1]:
        provider.complete(render(template, e.inputs).prompt, settings)
    return (time.perf_counter() - started) / n


def fit_test_size(minutes: float, per_call: float, per_dspy_call: float, args: argparse.Namespace) -> int:
    """The largest even test size ≤ 600 whose planned calls fit ``minutes``.

    Planned: our search (``budget`` calls at 3× a zero-shot call: demos make prompts longer), each DSPy
    optimizer's ``budget`` calls or its ``--minutes`` limit, whichever comes first; then per test item
    our 3 arms and each DSPy arm (KNNFewShot at 2×: its demos change per call, and MiniLM encodes).
    """
    arms = [a for a in args.arms.split(",") if a]
    optimizers = [
        a for a in arms if a.startswith("dspy_") and a not in ("dspy_zero_shot", "dspy_knn_fewshot")
    ]
    fixed = (3 * args.budget * per_call if "promptevolve" in arms else 0.0) + sum(
        min(args.budget * per_dspy_call, arm_minutes(args).get(a, args.minutes) * 60) for a in optimizers
    )
    per_item = (3 * per_call if "promptevolve" in arms else 0.0) + sum(
        (2 if a == "dspy_knn_fewshot" else 1) * per_dspy_call for a in arms if a.startswith("dspy_")
    )
    n = int((minutes * 60 - fixed) / per_item) if per_item else 600
    return max(20, min(600, n - n % 2))


# --- our side ------------------------------------------------------------------------------------


def parent_candidate(spec: PublicSet) -> Candidate:
    settings = ModelSettings(provider="local", max_tokens=8, temperature=0.0, stop=("\n",))
    return Candidate(parts_from_template(spec.template), settings, "baseline", "the set's own instruction")


def run_ours(args: argparse.Namespace, spec: PublicSet, data: SearchData, provider: Any) -> dict[str, Any]:
    evaluator = NormalizedMatch(labels=list(spec.labels))
    parent = parent_candidate(spec)
    config = SearchConfig(
        strategies=tuple(create_strategy(s) for s in args.strategies.split(",")),
        budget=Budget(max_calls=args.budget),
        seed=args.seed,
        minibatch=args.minibatch,
        finalists=args.finalists,
        max_train_rung=args.max_rung,
    )
    marks: dict[str, float] = {}

    def progress(p: Any) -> None:
        marks.setdefault(p.stage, time.perf_counter())
        if p.message:
            print(f"  [{p.stage}] {p.calls}/{p.max_calls} calls {p.message}", flush=True)

    started = time.perf_counter()
    result = run_search(
        parent=parent, data=data, config=config, evaluator=evaluator, provider=provider, on_progress=progress
    )
    optimize_s = marks.get("test", time.perf_counter()) - started
    test = result.test
    arms: dict[str, list[ItemResult]] = {}
    if result.winner is not None and test.verdict != "untested":
        arms = {"parent": list(test.parent), "promptevolve": list(test.winner)}
        for b in test.baselines:
            if b.name.startswith("parent constrained"):
                arms["parent_constrained"] = list(b.results)
        test_calls, test_s = test.spend.calls, time.perf_counter() - marks.get("test", started)
    else:  # no winner: the parent stays; score it and its constrained form outside the budget
        t0 = time.perf_counter()
        meter = BudgetMeter(Budget(max_calls=2 * len(data.test)))
        runner = CandidateRunner(provider=provider, evaluator=evaluator, meter=meter)
        arms["parent"] = list(runner.run(parent, data.test).results)
        constrained = Candidate(
            parent.parts,
            parent.settings.model_copy(update={"choices": list(spec.labels)}),
            "baseline",
            "constrained",
        )
        arms["parent_constrained"] = list(runner.run(constrained, data.test).results)
        arms["promptevolve"] = arms["parent"]
        test_calls, test_s = meter.spend().calls, time.perf_counter() - t0
    winner = result.winner
    return {
        "arms": arms,
        "optimize_calls": result.spend.calls,
        "proposal_calls": result.spend.proposal_calls,
        "test_calls": test_calls,
        "optimize_s": round(optimize_s, 1),
        "test_s": round(test_s, 1),
        "verdict": result.verdict,
        "gate": None if result.gate is None else result.gate.reason,
        "winner": None if winner is None else {"strategy": winner.strategy, "rationale": winner.rationale},
        "parent_validation": result.parent_validation,
        "parent_validation_items": result.parent_validation_items,
        "finalists": [
            {
                "strategy": f.candidate.strategy,
                "validation": f.validation_score,
                "validation_items": f.validation_items,
                "rationale": f.candidate.rationale,
            }
            for f in result.finalists
        ],
        "candidates": [
            {
                "strategy": c.candidate.strategy,
                "rung": c.rung,
                "train": round(c.train_score, 3),
                "items": c.train_items,
                "validation": c.validation_score,
                "rationale": c.candidate.rationale[:90],
            }
            for c in result.candidates
        ],
        "unusable": [f"{u.strategy}: {u.reason}" for u in result.unusable],
        "stopped": result.stopped,
    }


# --- DSPy side -----------------------------------------------------------------------------------


def run_dspy(
    args: argparse.Namespace,
    spec: PublicSet,
    data: SearchData,
    capped: race_dspy.CappedProvider,
    arms: list[str],
) -> list[race_dspy.Outcome]:
    if not arms:
        return []
    import dspy
    from openai_server import running_server

    from promptevolve.scoring.evaluators.minilm import MiniLMEncoder

    instruction = spec.template.split("\n\n")[0]
    metric, gepa_metric = race_dspy.make_metric(spec.labels)
    train, val, test = (race_dspy.to_dspy(x) for x in (data.train, data.validation, data.test))
    outcomes = []
    with running_server(capped) as server:  # type: ignore[arg-type]
        lm = dspy.LM(
            race_dspy.SERVED_NAME,
            api_base=server.base_url,
            api_key="local",
            temperature=0.0,
            max_tokens=40,
            cache=False,
            num_retries=0,
        )
        dspy.configure(lm=lm, adapter=dspy.JSONAdapter())
        program = dspy.Predict(race_dspy.signature(instruction, spec.labels))
        encoder = MiniLMEncoder()
        plans = race_dspy.plans(
            cap=args.budget,
            n_train=len(train),
            n_val=len(val),
            seed=args.seed,
            metric=metric,
            gepa_metric=gepa_metric,
            lm=lm,
            encode=lambda texts: encoder.encode(list(texts)),
        )
        for name in arms:
            if name == "dspy_zero_shot":
                compiled, outcome = program, race_dspy.Outcome(name, status="finished (no compile)")
            else:
                compiled, outcome = race_dspy.compile_with_limits(
                    name,
                    lambda c=plans[name]: c(program, train, val),
                    capped,
                    cap=args.budget,
                    minutes=arm_minutes(args).get(name, args.minutes),
                )
            if compiled is not None:
                capped.reset(None)
                started = time.perf_counter()
                outcome.scores, outcome.answers, outcome.errors = race_dspy.score_on(compiled, test, metric)
                outcome.test_calls, outcome.test_s = capped.calls, round(time.perf_counter() - started, 1)
            print(f"  {name}: {summary(outcome)}", flush=True)
            outcomes.append(outcome)
    return outcomes


def arm_minutes(args: argparse.Namespace) -> dict[str, float]:
    """``--arm-minutes dspy_miprov2=4,dspy_gepa=4``: per-optimizer wall-time limits over ``--minutes``."""
    pairs = (p.split("=", 1) for p in (args.arm_minutes or "").split(",") if p)
    return {name: float(value) for name, value in pairs}


def summary(o: race_dspy.Outcome) -> str:
    acc = f"{sum(o.scores) / len(o.scores):.3f}" if o.scores else "—"
    return (
        f"{o.status}; accuracy {acc}; compile {o.compile_calls} calls {o.compile_s} s; "
        f"test {o.test_calls} calls {o.test_s} s; {o.errors} errors"
    )


# --- report --------------------------------------------------------------------------------------


def report(
    args: argparse.Namespace, spec: PublicSet, data: SearchData, ours: dict | None, dspy_out: list
) -> dict:
    n = len(data.test)
    expected = [e.expected for e in data.test]
    majority_label = Counter(e.expected for e in data.train).most_common(1)[0][0]
    scores: dict[str, list[float]] = {"majority": [float(x == majority_label) for x in expected]}
    rows: dict[str, dict[str, Any]] = {"majority": {"optimize_calls": 0, "test_calls": 0, "wall_s": 0.0}}
    if ours:
        for arm, results in ours["arms"].items():
            scores[arm] = [r.score for r in results]
            rows[arm] = {"optimize_calls": 0, "test_calls": n, "wall_s": None, "status": "baseline"}
        rows["promptevolve"] = {
            "optimize_calls": ours["optimize_calls"],
            "test_calls": n,
            "wall_s": ours["optimize_s"],
            "status": f"verdict {ours['verdict']}",
        }
    for o in dspy_out:
        rows[o.name] = {
            "optimize_calls": o.compile_calls,
            "test_calls": o.test_calls,
            "wall_s": o.compile_s,
            "status": o.status,
            "errors": o.errors,
        }
        if o.scores:
            scores[o.name] = o.scores
    for arm, values in scores.items():
        k = sum(values)
        low, high = wilson(k, n)
        rows[arm].update(accuracy=k / n, low=low, high=high)
    comparisons: dict[str, Any] = {}
    if "promptevolve" in scores:
        for arm in scores:
            if arm != "promptevolve":
                comparisons[f"promptevolve vs {arm}"] = compare(
                    scores[arm], scores["promptevolve"], args.seed
                )
    dspy_finished = [a for a in scores if a.startswith("dspy_")]
    best_dspy = max(dspy_finished, key=lambda a: rows[a]["accuracy"], default=None)
    if best_dspy:
        comparisons[f"{best_dspy} (DSPy's best) vs majority"] = compare(
            scores["majority"], scores[best_dspy], args.seed
        )
    target: dict[str, Any] = {}
    if "promptevolve" in scores:
        majority = rows["majority"]["accuracy"]
        bar = max(majority, rows[best_dspy]["accuracy"] if best_dspy else 0.0)
        ours_row = rows["promptevolve"]
        target = {
            "bar": bar,
            "bar_is": best_dspy if best_dspy and rows[best_dspy]["accuracy"] > majority else "majority",
            "margin": ours_row["accuracy"] - bar,
            "five_points": ours_row["accuracy"] - bar >= 0.05,
            "low_above_majority": ours_row["low"] > majority,
        }
        target["reached"] = target["five_points"] and target["low_above_majority"]
    return {"set": spec.name, "n_test": n, "rows": rows, "comparisons": comparisons, "target": target}


def print_table(figures: dict) -> None:
    print(f"\n{figures['set']}: {figures['n_test']} test items")
    print("| arm | accuracy [95 % CI] | optimize calls | test calls | optimize wall s | status |")
    print("|---|---|---:|---:|---:|---|")
    for arm, r in figures["rows"].items():
        acc = f"{r['accuracy']:.1%} [{r['low']:.1%}, {r['high']:.1%}]" if "accuracy" in r else "—"
        calls = f"{r['optimize_calls']} | {r['test_calls']}"
        print(f"| {arm} | {acc} | {calls} | {r['wall_s']} | {r.get('status', '')} |")
    print("\n| comparison (paired, same items) | difference [95 % CI] | discordant (a / b) | McNemar p |")
    print("|---|---|---|---:|")
    for name, c in figures["comparisons"].items():
        print(
            f"| {name} | {c['diff']:+.1%} [{c['low']:+.1%}, {c['high']:+.1%}] "
            f"| {c['a_only']} / {c['b_only']} | {c['mcnemar_p']:.3g} |"
        )
    print("\ntarget:", json.dumps(figures["target"]))


def write_items(path: Path, data: SearchData, ours: dict | None, dspy_out: list) -> None:
    with path.open("w", encoding="utf-8") as out:
        for i, e in enumerate(data.test):
            row: dict[str, Any] = {"id": e.key, "expected": e.expected}
            for arm, results in (ours or {}).get("arms", {}).items():
                row[arm] = results[i].output
            for o in dspy_out:
                if o.answers:
                    row[o.name] = o.answers[i]
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, load {load}"


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # MiniLM comes from its package; nothing is downloaded
    os.environ.setdefault("TQDM_DISABLE", "1")
    logging.getLogger("dspy").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--set", required=True, choices=sorted(PUBLIC_SETS))
    parser.add_argument("--train", type=int, default=200)
    parser.add_argument("--val", type=int, default=100)
    parser.add_argument("--test", type=int, default=600)
    parser.add_argument(
        "--fit-minutes", type=float, default=None, help="size the test split to fit M minutes"
    )
    parser.add_argument("--budget", type=int, default=520, help="optimization calls per method")
    parser.add_argument("--strategies", default="labels,few_shot,retrieval")
    parser.add_argument("--minibatch", type=int, default=8)
    parser.add_argument("--finalists", type=int, default=2)
    parser.add_argument("--max-rung", type=int, default=None, help="largest train rung of our search")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arms", default=",".join(DEFAULT_ARMS))
    parser.add_argument("--minutes", type=float, default=15.0, help="wall-time limit of each DSPy compile")
    parser.add_argument("--arm-minutes", default="", help="per optimizer: NAME=MINUTES,… (over --minutes)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--items", type=Path, default=None)
    args = parser.parse_args()
    spec = PUBLIC_SETS[args.set]
    arms = [a for a in args.arms.split(",") if a]
    unknown = set(arms) - set(ALL_ARMS)
    if unknown:
        parser.error(f"unknown arms {sorted(unknown)}; known: {', '.join(ALL_ARMS)}")
    print(f"machine: {machine()}", flush=True)
    splits = load_splits(spec, args.train, args.val)
    provider = LocalProvider(n_threads=args.threads)
    capped = race_dspy.CappedProvider(provider)
    per_call = time_calls(provider, spec, splits["validation"])
    print(f"one constrained zero-shot call: {per_call:.2f} s", flush=True)
    if args.fit_minutes:
        per_dspy = (
            3.5 * per_call
        )  # DSPy's JSON-adapter prompt is ~4× ours (measured 0.83 vs 0.22 s on tweets)
        args.test = fit_test_size(args.fit_minutes, per_call, per_dspy, args)
        print(f"test size fitted to {args.fit_minutes:g} minutes: {args.test}", flush=True)
    test = balanced(splits["test"], args.test, spec.labels, seed=args.seed)
    data = SearchData(tuple(splits["train"]), tuple(splits["validation"]), tuple(test), spec.description)
    print(
        f"split: train {len(data.train)}, validation {len(data.validation)}, test {len(data.test)}",
        flush=True,
    )
    started = time.perf_counter()
    ours = run_ours(args, spec, data, provider) if "promptevolve" in arms else None
    if ours:
        print("ours:", json.dumps({k: v for k, v in ours.items() if k != "arms"}, indent=1), flush=True)
    dspy_out = run_dspy(args, spec, data, capped, [a for a in arms if a.startswith("dspy_")])
    figures = report(args, spec, data, ours, dspy_out)
    figures |= {
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "seconds_per_call": per_call,
        "total_wall_s": round(time.perf_counter() - started, 1),
        "ours": {k: v for k, v in (ours or {}).items() if k != "arms"},
    }
    print_table(figures)
    print(f"\ntotal wall {figures['total_wall_s']} s; {figures['machine']}")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1, default=str))
    if args.items:
        write_items(args.items, data, ours, dspy_out)


if __name__ == "__main__":
    main()
