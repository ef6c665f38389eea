"""Siblings of a candidate with demonstrations: the same demos in another order, or one demo swapped.

Few-shot accuracy depends on which demos are shown and in which order as much as on the instruction:
Lu et al. (2022, "Fantastically Ordered Prompts") measured spreads of tens of points between orders of
the same demos, and Liu et al. (2021) between subsets. A strategy proposes one subset in one order; the
search (``search.demo_search``) calls ``demo_siblings`` for every candidate with demos that survived its
first successive-halving rung, and the siblings start on the first rung like any candidate: the
halving then spends on the orders and subsets that answer best, paired on the same items.

A sibling is either a **permutation** of the demos (drawn with the run's generator, different from the
current order and from the permutations already proposed) or a **swap**: one demo replaced by a demo of
the pool not shown yet, of the same label when the task is a classification (so a balanced set stays
balanced) and no longer than the longest shown (the candidate's ``max_tokens`` was sized to its demos).
Pure: no model call, no I/O.
"""

from __future__ import annotations

import random
from dataclasses import replace

from promptevolve.evolution.candidates import Candidate
from promptevolve.evolution.parts import Demo
from promptevolve.evolution.strategies.base import Evidence
from promptevolve.evolution.strategies.few_shot import demo_label, demo_pool, gold_labels

__all__ = ["demo_siblings"]


def demo_siblings(
    candidate: Candidate, evidence: Evidence, *, rng: random.Random, count: int
) -> list[Candidate]:
    """Up to ``count`` siblings of ``candidate``, alternating a permutation and a swap."""
    demos = list(candidate.parts.demos)
    if len(demos) < 2 or count <= 0:
        return []
    seen = {tuple(d.key for d in demos)}
    out: list[Candidate] = []
    for i in range(count * 3):
        if len(out) >= count:
            break
        new, why = _permute(demos, rng) if i % 2 == 0 else _swap(demos, evidence, rng)
        if new is None or tuple(d.key for d in new) in seen:
            continue
        seen.add(tuple(d.key for d in new))
        out.append(
            replace(
                candidate,
                parts=candidate.parts.with_demos(new),
                rationale=f"{candidate.rationale}; {why}",
                parent_key=candidate.key,
            )
        )
    return out


def _permute(demos: list[Demo], rng: random.Random) -> tuple[list[Demo] | None, str]:
    order = list(range(len(demos)))
    rng.shuffle(order)
    if order == list(range(len(demos))):
        order = order[1:] + order[:1]
    return [demos[i] for i in order], f"demos reordered ({' '.join(str(i + 1) for i in order)})"


def _swap(demos: list[Demo], evidence: Evidence, rng: random.Random) -> tuple[list[Demo] | None, str]:
    shown = {d.key for d in demos}
    longest = max(len(d.output) for d in demos)
    pool = [d for d in demo_pool(evidence) if d.key not in shown and len(d.output) <= longest]
    if not pool:
        return None, ""
    position = rng.randrange(len(demos))
    if evidence.labels:
        gold = gold_labels(evidence)
        label = demo_label(demos[position], evidence.labels, gold)
        same = [d for d in pool if demo_label(d, evidence.labels, gold) == label]
        pool = same or pool
    new = list(demos)
    new[position] = rng.choice(pool)
    return new, f"demo {position + 1} swapped for item {new[position].key}"
