"""Retrieval-selected demonstrations: what they cost on the hot path, and what they buy in accuracy.

Question 1 (cost): how much does picking the ``k`` nearest demos of a variant's pool add to a call,
over a plain render? Measured per call for the BM25 index and the MiniLM index (all-MiniLM-L6-v2 in
NumPy, the embedding evaluator's loader), on the lead descriptions, pool = the train split.

Question 2 (accuracy): on a real classification with the bundled local model, do per-input demos beat
fixed demos? Task: the industry of a company from its description (the bundled leads' gold
``industry``: 20 labels, EN and FR; the 176 hand-written leads by default, ``--all`` for the 1,000 of the
grown set; seeded split 50/20/30). Arms on the test split, every
arm constrained to the 20 labels (``choices``) so that only the demos differ:

- zero-shot: the instruction listing the labels;
- few-shot: 4 fixed demos chosen by ``few_shot`` (class-balanced);
- retrieval BM25, k = 4; retrieval MiniLM, k = 4 (the ``retrieval`` strategy's candidates).

Per arm: accuracy with a 95 % bootstrap interval, the paired difference to the few-shot arm, mean
latency per call. Run:

    OPENBLAS_NUM_THREADS=1 python bench/retrieval.py [--items 40] [--cost-only] [--all]

(one BLAS thread: with the default thread pool on a loaded 2-core machine the MiniLM encoder was 15x
slower per query.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from importlib.resources import files
from pathlib import Path

import numpy as np

from promptevolve.core.types import ModelSettings
from promptevolve.evolution import Budget, BudgetMeter, Candidate, Example, split_keys
from promptevolve.evolution.gate import bootstrap_mean, gate
from promptevolve.evolution.parts import PromptParts
from promptevolve.evolution.runner import CandidateRunner, Proposer
from promptevolve.evolution.strategies import Evidence, create_strategy
from promptevolve.providers.registry import create_provider
from promptevolve.scoring.evaluators import ExactMatch
from promptevolve.scoring.evaluators.minilm import MiniLMEncoder
from promptevolve.templates import DemoRetriever, parse_template, render

INSTRUCTION = "Classify the company's industry. Answer with one of: {labels}."
QUERY = "Company: {{ description }}"


def load(everything: bool = False) -> tuple[list[Example], list[Example], tuple[str, ...]]:
    path = Path(str(files("promptevolve.examples.lead_enrichment") / "leads.jsonl"))
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if everything or "-s" not in r["id"]]  # en-s001…: the generated leads
    split = split_keys([r["id"] for r in rows], seed=1, strata={r["id"]: r["locale"] for r in rows})
    items = [
        Example(
            r["id"], split[r["id"]], {"description": r["inputs"]["description"]}, r["expected"]["industry"]
        )
        for r in rows
    ]
    labels = tuple(sorted({str(e.expected) for e in items}))
    return [e for e in items if e.split == "train"], [e for e in items if e.split == "test"], labels


def arms(train: list[Example], labels: tuple[str, ...]) -> dict[str, Candidate]:
    settings = ModelSettings(max_tokens=8, choices=list(labels), stop=("\n",))
    parent = Candidate(
        PromptParts("completion", INSTRUCTION.format(labels=", ".join(labels)), QUERY, cue="Answer:"),
        settings,
        "baseline",
        "zero-shot",
    )
    evidence = Evidence(task="industry", evaluator="exact", train=tuple(train), labels=labels, constrain=True)
    proposer = Proposer(provider=create_provider("scripted"), meter=BudgetMeter(Budget(max_calls=1)))
    rng = random.Random(0)
    few = (
        create_strategy("few_shot")
        .propose(parent=parent, evidence=evidence, proposer=proposer, rng=rng, count=1)
        .candidates[0]
    )
    retrieved = create_strategy("retrieval").propose(
        parent=parent, evidence=evidence, proposer=proposer, rng=rng, count=2
    )
    by_index = {c.rationale.split("(")[-1].split(")")[0]: c for c in retrieved.candidates}
    return {
        "zero-shot": parent,
        "few-shot (4 fixed)": few,
        "retrieval bm25": by_index["bm25"],
        "retrieval minilm": by_index["minilm"],
    }


def cost(candidates: dict[str, Candidate], test: list[Example], repeat: int) -> dict[str, float]:
    """Mean microseconds per render (after a warm-up that builds the index)."""
    retriever = DemoRetriever(encoder=MiniLMEncoder)
    out = {}
    for name, candidate in candidates.items():
        parsed = parse_template(candidate.template)
        retriever.render(parsed, candidate.settings, test[0].inputs)  # warm-up: index built once
        started = time.perf_counter()
        calls = 0
        for _ in range(repeat if "minilm" not in name else 1):
            for e in test:
                retriever.render(parsed, candidate.settings, e.inputs)
                calls += 1
        out[name] = (time.perf_counter() - started) / calls * 1e6
    parsed = parse_template(candidates["zero-shot"].template)
    started = time.perf_counter()
    for _ in range(repeat):
        for e in test:
            render(parsed, e.inputs)
    out["plain render"] = (time.perf_counter() - started) / (repeat * len(test)) * 1e6
    return out


def accuracy(candidates: dict[str, Candidate], test: list[Example], labels: tuple[str, ...]) -> None:
    provider = create_provider("local")
    evaluator = ExactMatch(labels=list(labels))
    scores: dict[str, list[float]] = {}
    for name, candidate in candidates.items():
        meter = BudgetMeter(Budget(max_calls=len(test)))
        runner = CandidateRunner(provider=provider, evaluator=evaluator, meter=meter)
        started = time.perf_counter()
        outcome = runner.run(candidate, test, purpose="test")
        seconds = (time.perf_counter() - started) / len(test)
        scores[name] = [r.score for r in outcome.results]
        ci = bootstrap_mean(scores[name], rng=np.random.default_rng(0))
        answers = statistics.mode([r.output.strip() for r in outcome.results])
        print(
            f"{name:20s} accuracy {ci.mean:.3f} [{ci.low:.3f}, {ci.high:.3f}] n={ci.n}; "
            f"{seconds:.2f} s/call; most frequent answer {answers!r}",
            flush=True,
        )
    base = scores["few-shot (4 fixed)"]
    for name, values in scores.items():
        if name != "few-shot (4 fixed)":
            g = gate(base, values, rng=np.random.default_rng(0))
            i = g.improvement
            print(f"{name:20s} vs few-shot: {i.mean:+.3f} [{i.low:+.3f}, {i.high:+.3f}] (paired, same items)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=0, help="test items (0: the whole test split)")
    parser.add_argument("--repeat", type=int, default=200, help="render loops for the cost figures")
    parser.add_argument("--cost-only", action="store_true")
    parser.add_argument("--all", action="store_true", help="the 1,000 leads of the grown set")
    args = parser.parse_args()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"load average {os.getloadavg()[0]:.2f}, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"
    )
    train, test, labels = load(args.all)
    test = test[: args.items] if args.items else test
    candidates = arms(train, labels)
    print(
        f"task: industry of {len(train)} train / {len(test)} test leads, {len(labels)} labels, "
        f"pool {len(train)}"
    )
    for name, micro in cost(candidates, test, args.repeat).items():
        print(f"cost per call  {name:20s} {micro:10.1f} µs")
    if not args.cost_only:
        accuracy(candidates, test, labels)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
