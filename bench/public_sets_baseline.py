"""Zero-shot baselines of the bundled local model on the public sets' test splits, beside majority class.

Question: before any evolution, what does the bundled model score on each bundled public set's test
split with the set's baseline prompt and its labels enforced by grammar (``choices``)? The figure a
candidate has to beat is the better of this and the majority class (50 %: the splits are balanced).
Accuracy comes with a 95 % Wilson interval; the answers' label counts show a constant classifier at a
glance. Calls go straight to the local provider (no database), one at a time. ``--free-text`` drops the
``choices`` setting (up to 8 tokens, stop at a newline) and scores with the ``normalized`` evaluator
given the labels, so an answer outside them is counted unparsable: the baseline as a user first tries it.

    python bench/public_sets_baseline.py [--limit N] [--sets sms_spam,tweet_sentiment] [--free-text]
                                         [--out FILE.jsonl]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from collections import Counter

from promptevolve.core.types import ModelSettings
from promptevolve.examples.public_sets import PUBLIC_SETS
from promptevolve.providers.local import LocalProvider
from promptevolve.scoring.evaluators.normalized import NormalizedMatch, normalize_text
from promptevolve.templates import parse_template, render


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n (95 % by default)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def auc(positive: list[float], negative: list[float]) -> float | None:
    """P(a positive item's score > a negative item's), ties half: how well a threshold could separate."""
    if not positive or not negative:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return wins / (len(positive) * len(negative))


def run_set(name: str, limit: int | None, provider: LocalProvider, out, free_text: bool = False) -> dict:
    spec = PUBLIC_SETS[name]
    lines = spec.path.read_text(encoding="utf-8").splitlines()
    items = [i for i in map(json.loads, lines) if i["split"] == "test"]
    if limit:  # every other label first, so a short run stays balanced
        by_label = {label: [i for i in items if i["expected"] == label] for label in spec.labels}
        items = [x for group in zip(*by_label.values(), strict=False) for x in group][:limit]
    template = parse_template(spec.template)
    if free_text:
        settings = ModelSettings(provider="local", max_tokens=8, temperature=0.0, stop=("\n",))
    else:
        settings = ModelSettings(provider="local", max_tokens=4, temperature=0.0, choices=list(spec.labels))
    evaluator = NormalizedMatch(labels=list(spec.labels))
    correct, unparsable, answers, started = 0, 0, Counter(), time.perf_counter()
    first_label_probs: dict[bool, list[float]] = {True: [], False: []}
    for item in items:
        completion = provider.complete(render(template, item["inputs"]).prompt, settings)
        answer = completion.text.strip()
        verdict = evaluator.evaluate(output=answer, expected=item["expected"])
        correct += verdict.score == 1.0
        unparsable += not verdict.parsed
        answers[normalize_text(answer) if verdict.parsed else answer] += 1
        probs = completion.extra.get("label_probs")
        if probs:
            first_label_probs[item["expected"] == spec.labels[0]].append(probs[spec.labels[0]])
        record = {"set": name, "id": item["id"], "expected": item["expected"], "answer": answer}
        out.write(json.dumps(record | {"label_probs": completion.extra.get("label_probs")}) + "\n")
    n = len(items)
    majority = max(Counter(i["expected"] for i in items).values())
    return {
        "set": name,
        "n": n,
        "mode": "free text" if free_text else "choices",
        "zero_shot": {"accuracy": correct / n, "ci95": wilson(correct, n), "unparsable": unparsable},
        "majority_class": {"accuracy": majority / n, "ci95": wilson(majority, n)},
        # threshold-free: could some cut on p(first label) separate the classes? (not an accuracy)
        "auc_of_label_probs": auc(first_label_probs[True], first_label_probs[False]),
        "answers": dict(answers.most_common(6)),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="at most N test items per set")
    parser.add_argument("--sets", default=",".join(PUBLIC_SETS))
    parser.add_argument("--out", default=os.devnull, help="per-item answers (JSONL)")
    parser.add_argument("--free-text", action="store_true", help="no choices: the labels are not enforced")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    provider = LocalProvider()
    with open(args.out, "w", encoding="utf-8") as out:
        for name in args.sets.split(","):
            print(json.dumps(run_set(name, args.limit, provider, out, args.free_text)), flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
