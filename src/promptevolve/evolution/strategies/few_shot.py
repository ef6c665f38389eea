"""``few_shot``: add worked examples, chosen by score and diversity, in the form the model follows best.

Where demonstrations come from, best first (as DSPy's bootstrapping, plus production):

1. **bootstrapped**: train items the parent (or any evaluated candidate) answered perfectly; the demo
   shows the model's own answer, so it also carries any free-text part the gold label lacks;
2. **production**: executions that users approved or corrected (items of a dataset built from feedback);
3. **labelled**: other train items with their gold answer written as the model should write it.

Choice: greedy, each next demo maximising its score plus its distance to the demos already chosen
(1 − Jaccard similarity of the input words) plus a bonus for a gold answer not shown yet, with the
run's generator breaking ties and varying the subsets between candidates. No model call.

**Class balance.** When the task is a classification (``evidence.labels``: the evaluator's labels, else
few distinct short gold answers), the demos are drawn **balanced over the labels** (as many of each,
the remainder to labels drawn at random) and interleaved, so the last demo is not always the same class.
Demos shown by the model's own answers count under the gold label of their item. Without it, a pool
where one class dominates (or where the model got one class right more often) gives demos of one class,
and a 135M model then answers that class for everything: a constant classifier that scores the majority
rate (issue 11: three demos of four labelled "1", 298 of 300 answers "1").

When the evaluator declares the labels (``evidence.constrain``), candidates also carry the ``choices``
setting (the allowed answers, enforced by the provider).

Forms proposed, in order, up to ``count``:

* the **completion** form (a plain-text template: instruction, then ``input / Answer: output`` blocks,
  then the query): the form a 135M model follows best (16/16 against 5/16 for zero-shot chat on our
  sentiment probe);
* the completion form **without** the parent's instruction (the demos carry the task; far cheaper);
* the parent's own form with the demos as user/assistant turns;
* further random subsets of the completion form.

Settings: ``max_tokens`` shrinks to what the longest demo needs (plus a margin), which makes candidates
cheaper to evaluate and to serve, unless a JSON schema bounds the answer already; a stop at the end of a
one-line answer is added unless JSON mode already ends the answer.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from promptevolve.core.types import ModelSettings
from promptevolve.evolution.candidates import Candidate
from promptevolve.evolution.parts import Demo, PromptParts
from promptevolve.evolution.runner import Proposer
from promptevolve.evolution.strategies.base import Evidence, Proposals, Strategy, format_expected

__all__ = ["FewShot", "balanced", "demo_label", "demo_pool", "gold_labels", "with_choices"]

_WORD = re.compile(r"\w+", re.UNICODE)
_SOURCE_RANK = {"bootstrapped": 2.0, "production": 1.5, "labelled": 1.0}


class FewShot(Strategy):
    name = "few_shot"
    uses_model = False

    def __init__(self, *, max_demos: int = 4, cue: str = "Answer:", diversity: float = 1.0) -> None:
        self._k = max_demos
        self._cue = cue
        self._diversity = diversity

    def propose(
        self,
        *,
        parent: Candidate,
        evidence: Evidence,
        proposer: Proposer,
        rng: random.Random,
        count: int,
    ) -> Proposals:
        pool = demo_pool(evidence)
        if not pool:
            return Proposals(unusable=(self.unusable("no train items or demonstrations to show"),))
        variants = [("completion", True), ("completion", False), (parent.parts.form, True)]
        variants += [("completion", rng.random() < 0.5) for _ in range(max(0, count - len(variants)))]
        seen: set[str] = set()
        candidates: list[Candidate] = []
        for form, keep_instruction in variants:
            if len(candidates) >= count:
                break
            demos = self._choose(pool, rng, evidence.labels, gold_labels(evidence))
            parts = self._parts(parent.parts, demos, form, keep_instruction)
            candidate = Candidate(
                parts=parts,
                settings=with_choices(self._settings(parent, demos, form), evidence),
                strategy=self.name,
                rationale=self._rationale(demos, form, keep_instruction),
                parent_key=parent.key,
            )
            if candidate.key not in seen and candidate.key != parent.key:
                seen.add(candidate.key)
                candidates.append(candidate)
        return Proposals(tuple(candidates))

    # --- demonstrations --------------------------------------------------------------------------

    def _choose(
        self,
        pool: Sequence[Demo],
        rng: random.Random,
        labels: tuple[str, ...] | None = None,
        gold: dict[str, str] | None = None,
    ) -> list[Demo]:
        if labels:
            return balanced(pool, labels, self._k, rng, pick=self._greedy, gold=gold)
        return self._greedy(pool, rng, self._k)

    def _greedy(self, pool: Sequence[Demo], rng: random.Random, k: int) -> list[Demo]:
        shuffled = list(pool)
        rng.shuffle(shuffled)
        words = {d.key: set(_WORD.findall(" ".join(map(str, d.inputs.values())).lower())) for d in shuffled}
        chosen: list[Demo] = []
        shown: set[str] = set()
        while shuffled and len(chosen) < k:
            best = max(shuffled, key=lambda d: self._value(d, chosen, words, shown))
            shuffled.remove(best)
            chosen.append(best)
            shown.add(best.output)
        return chosen

    def _value(self, demo: Demo, chosen: list[Demo], words: dict[str, set[str]], shown: set[str]) -> float:
        value = demo.score * _SOURCE_RANK.get(demo.source, 1.0)
        if chosen:
            distance = min(_distance(words[demo.key], words[c.key]) for c in chosen)
            value += self._diversity * distance
        return value + (0.25 if demo.output not in shown else 0.0)

    # --- the candidate ---------------------------------------------------------------------------

    def _parts(self, parts: PromptParts, demos: list[Demo], form: str, keep_instruction: bool) -> PromptParts:
        instruction = parts.instruction if keep_instruction else ""
        if form == "completion":
            return replace(
                parts, form="completion", instruction=instruction, demos=tuple(demos), cue=self._cue, fixed=()
            )
        return replace(parts, instruction=instruction, demos=tuple(demos))

    @staticmethod
    def _settings(parent: Candidate, demos: list[Demo], form: str) -> ModelSettings:
        update: dict[str, object] = {}
        if "json_schema" not in parent.settings.extra_params():
            # A schema already ends the answer where it must, and may ask for more than the demos show
            # (gold labels carry no pitch): shrinking would cut a required field. Without one, it pays.
            longest = max(len(d.output.encode()) for d in demos)
            update["max_tokens"] = min(parent.settings.max_tokens, longest // 2 + 48)
        one_line = all("\n" not in d.output for d in demos)
        if form == "completion" and one_line and parent.settings.response_format != "json":
            update["stop"] = tuple(dict.fromkeys((*parent.settings.stop, "\n")))
        elif form == "completion":
            update["stop"] = tuple(dict.fromkeys((*parent.settings.stop, "\n\n")))
        return parent.settings.model_copy(update=update)

    @staticmethod
    def _rationale(demos: list[Demo], form: str, keep_instruction: bool) -> str:
        sources = ", ".join(sorted({d.source for d in demos}))
        shape = "as a plain completion prompt" if form == "completion" else "as chat turns"
        instruction = "" if keep_instruction else ", without the long instruction"
        return f"{len(demos)} worked examples ({sources}) chosen by score and diversity, {shape}{instruction}"


def demo_pool(evidence: Evidence) -> list[Demo]:
    """Demonstrations available to show: bootstrapped answers, then production, then gold labels.

    A demo's ``key`` is its item's, so ``demo_label`` can find the gold label of a bootstrapped demo.
    """
    found: dict[str, Demo] = {}
    for demo in sorted(evidence.demos, key=lambda d: -d.score):
        found.setdefault(demo.key, demo)
    for scored in evidence.successes:
        example = scored.example
        found.setdefault(
            example.key,
            Demo(example.key, dict(example.inputs), scored.result.output.strip(), "bootstrapped", 1.0),
        )
    for example in evidence.train:
        if example.expected is not None and example.key not in found:
            source = "production" if example.meta.get("source") in ("approved", "correction") else "labelled"
            found[example.key] = Demo(
                example.key, dict(example.inputs), format_expected(example.expected), source, 1.0
            )
    return [d for d in found.values() if d.output]


def demo_label(demo: Demo, labels: Sequence[str], gold: dict[str, str] | None = None) -> str | None:
    """The class a demo shows: its item's gold label when known, else its output if it is a label."""
    if gold is not None and demo.key in gold:
        return gold[demo.key]
    text = demo.output.strip()
    return text if text in labels else None


def balanced(
    pool: Sequence[Demo],
    labels: Sequence[str],
    k: int,
    rng: random.Random,
    *,
    pick: Callable[[Sequence[Demo], random.Random, int], list[Demo]],
    gold: dict[str, str] | None = None,
) -> list[Demo]:
    """``k`` demos with the labels as evenly represented as the pool allows, interleaved by label.

    Each label gets ``k // len(labels)`` demos, and the remainder goes to labels drawn at random;
    ``pick`` chooses within a label (by score and diversity). A label the pool lacks gives its share to
    the others. Demos without a label are used only when the labelled ones run out.
    """
    by_label: dict[str, list[Demo]] = {label: [] for label in labels}
    for demo in pool:
        label = demo_label(demo, labels, gold)
        if label in by_label:
            by_label[label].append(demo)
    present = [label for label in labels if by_label[label]]
    if not present:
        return pick(pool, rng, k)
    order = list(present)
    rng.shuffle(order)
    quota = {label: k // len(present) for label in present}
    for label in order[: k % len(present)]:
        quota[label] += 1
    chosen = {label: pick(by_label[label], rng, quota[label]) for label in order}
    interleaved = [group[i] for i in range(k) for group in chosen.values() if i < len(group)]
    if len(interleaved) < k:
        rest = [d for d in pool if d not in interleaved]
        interleaved += pick(rest, rng, k - len(interleaved))
    return interleaved[:k]


def gold_labels(evidence: Evidence) -> dict[str, str]:
    """item key → its gold answer as text, for the train items that have one."""
    return {e.key: format_expected(e.expected).strip() for e in evidence.train if e.expected is not None}


def with_choices(settings: ModelSettings, evidence: Evidence) -> ModelSettings:
    """``settings`` with ``choices`` set to the evaluator's labels, when it declares them."""
    if not evidence.constrain or not evidence.labels or "choices" in settings.extra_params():
        return settings
    return settings.model_copy(update={"choices": list(evidence.labels)})


def _distance(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 0.0
    return 1.0 - len(a & b) / len(a | b)
