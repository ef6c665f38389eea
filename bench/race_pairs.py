"""Paired comparisons between arms of separate ``classification_race.py`` runs, from their ``--items`` files.

The race's arms can run in separate processes (on a loaded machine, one DSPy optimizer per process, or
our search re-run after a change): each run with the same ``--set``, ``--test`` and ``--seed`` answers the
same test items, and ``--items`` writes one JSON line per item with every arm's answer. This script joins
the files on the item id (refusing files whose items or gold answers differ), scores every answer with
the race's evaluator (``normalized`` with the set's labels, the same for every arm), and prints each arm's
accuracy with its 95 % Wilson interval and, for ``--versus`` (default ``promptevolve``) against every other
arm and the majority class, the paired difference with its 95 % paired-bootstrap interval and McNemar's
exact p (``classification_race.compare``).

    python bench/race_pairs.py --set tweet_sentiment ours.jsonl dspy_rs.jsonl dspy_gepa.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "providers"))

from classification_race import compare, wilson

from promptevolve.examples.public_sets import PUBLIC_SETS
from promptevolve.scoring.evaluators.normalized import NormalizedMatch


def load(paths: list[Path]) -> tuple[list[str], list[str], dict[str, list[str]]]:
    """(item ids, gold answers, answers per arm), the same items in the same order in every file."""
    ids: list[str] | None = None
    gold: list[str] = []
    arms: dict[str, list[str]] = {}
    for path in paths:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        these = [r["id"] for r in rows]
        if ids is None:
            ids, gold = these, [r["expected"] for r in rows]
        elif these != ids or [r["expected"] for r in rows] != gold:
            raise SystemExit(f"{path}: not the same test items as {paths[0]} (same --set, --test, --seed?)")
        for name in rows[0] if rows else ():
            if name in ("id", "expected"):
                continue
            if name in arms:
                raise SystemExit(f"{path}: arm {name!r} is already in an earlier file")
            arms[name] = [r[name] for r in rows]
    return ids or [], gold, arms


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--set", required=True, choices=sorted(PUBLIC_SETS))
    parser.add_argument("--versus", default="promptevolve", help="the arm compared with every other")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    parser.add_argument("items", type=Path, nargs="+")
    args = parser.parse_args()
    spec = PUBLIC_SETS[args.set]
    evaluator = NormalizedMatch(labels=list(spec.labels))
    ids, gold, answers = load(args.items)
    n = len(ids)
    majority = Counter(gold).most_common(1)[0][0]  # the sets are balanced: any label scores 50 %
    scores = {"majority": [float(g == majority) for g in gold]}
    for arm, outs in answers.items():
        scores[arm] = [
            evaluator.evaluate(output=o or "", expected=g).score for o, g in zip(outs, gold, strict=True)
        ]
    figures: dict = {"set": spec.name, "n_test": n, "rows": {}, "comparisons": {}}
    print(f"{spec.name}: {n} test items\n\n| arm | accuracy [95 % CI] |\n|---|---|")
    for arm, values in scores.items():
        k = sum(values)
        low, high = wilson(k, n)
        figures["rows"][arm] = {"accuracy": k / n, "low": low, "high": high}
        print(f"| {arm} | {k / n:.1%} [{low:.1%}, {high:.1%}] |")
    if args.versus in scores:
        print("\n| paired comparison | difference [95 % CI] | discordant (a / b right only) | McNemar p |")
        print("|---|---|---|---:|")
        for arm in scores:
            if arm == args.versus:
                continue
            c = compare(scores[arm], scores[args.versus], args.seed)
            figures["comparisons"][f"{args.versus} vs {arm}"] = c
            print(
                f"| {args.versus} − {arm} | {c['diff']:+.1%} [{c['low']:+.1%}, {c['high']:+.1%}] "
                f"| {c['a_only']} / {c['b_only']} | {c['mcnemar_p']:.2g} |"
            )
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
