"""The serving plan of a prompt: everything the hot path needs, read in one transaction.

A ``ServingPlan`` is an immutable snapshot: the active variants with their shares, the baseline (the
variant of last resort when another fails), and the running experiment with its arms if there is one.
Templates arrive parsed, so a call only renders. The SDK caches plans (``registry.cache``); nothing on
the hot path touches the database. ``load_plans`` reads many prompts' plans with the same few queries
as one (the cache's refresher renews expired plans in batches).

The contract with the experiments package is the store: an experiment whose ``status`` is ``running``
or ``ramping`` routes traffic between its ``experiment_arms`` by their ``share_bp``. The experiments
service changes those rows (ramp steps, bandit weights); routing only reads them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from promptevolve.core.errors import NotFoundError, PromptevolveError
from promptevolve.core.statuses import ROUTING, sql_values
from promptevolve.core.types import ModelSettings, VariantKind
from promptevolve.registry.versioning import parse_version
from promptevolve.store.engine import Store
from promptevolve.store.tables import Experiment, ExperimentArm, Prompt, PromptVariant, VariantState
from promptevolve.templates import ParsedTemplate, parse_template

__all__ = [
    "ServingArm",
    "ServingExperiment",
    "ServingPlan",
    "ServingVariant",
    "load_plan",
    "load_plans",
    "unknown_prompt",
    "variant_from_row",
]

#: Names or ids per ``IN (…)`` list: well under every database's limit of bound parameters.
_CHUNK = 500
_K = TypeVar("_K")


@dataclass(frozen=True, slots=True)
class ServingVariant:
    id: int
    prompt: str
    version: str
    kind: VariantKind
    template: ParsedTemplate
    settings: ModelSettings

    @property
    def expects_json(self) -> bool:
        return self.settings.response_format == "json"


@dataclass(frozen=True, slots=True)
class ServingArm:
    arm: str
    variant: ServingVariant
    share_bp: int
    is_control: bool


@dataclass(frozen=True, slots=True)
class ServingExperiment:
    id: int
    seed: str
    mode: str
    arms: tuple[ServingArm, ...]

    def routing_arms(self) -> tuple[tuple[str, int], ...]:
        return tuple((a.arm, a.share_bp) for a in self.arms)

    def arm(self, key: str) -> ServingArm:
        return next(a for a in self.arms if a.arm == key)


@dataclass(frozen=True, slots=True)
class ServingPlan:
    prompt_id: int
    name: str
    config: dict[str, Any]
    active: tuple[tuple[ServingVariant, int], ...]
    baseline: ServingVariant
    experiment: ServingExperiment | None
    # Derived once per plan, not per call: a plan serves many calls (hot path).
    _arms: tuple[tuple[str, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        live = tuple((v.version, bp) for v, bp in self.active if bp > 0)
        object.__setattr__(self, "_arms", live or ((self.baseline.version, 10_000),))

    def routing_arms(self) -> tuple[tuple[str, int], ...]:
        """Active variants as routing arms keyed by version (the baseline alone when none is active)."""
        return self._arms

    def variant(self, version: str) -> ServingVariant:
        for v, _ in self.active:
            if v.version == version:
                return v
        if self.baseline.version == version:
            return self.baseline
        raise NotFoundError(f"{self.name}@{version} is not serving")


#: Parsed variants by (prompt, id, content hash, version, kind). Variants are immutable (a change is a
#: new variant), so an entry never goes stale; hash, version and kind keep two databases' equal ids
#: apart. Parsing (Jinja, variables, settings) was most of the cost of renewing 10,000 expired plans.
_PARSED: OrderedDict[tuple[str, int, str, str, str], ServingVariant] = OrderedDict()
_PARSED_MAX = 65_536
_parsed_lock = threading.Lock()


def variant_from_row(prompt_name: str, row: PromptVariant) -> ServingVariant:
    key = (prompt_name, row.id, row.content_hash, row.version, row.kind)
    with _parsed_lock:
        known = _PARSED.get(key)
        if known is not None:
            _PARSED.move_to_end(key)
            return known
    variant = ServingVariant(
        id=row.id,
        prompt=prompt_name,
        version=row.version,
        kind=VariantKind(row.kind),
        template=parse_template(row.template),
        settings=ModelSettings(**row.settings),
    )
    with _parsed_lock:
        _PARSED[key] = variant
        if len(_PARSED) > _PARSED_MAX:
            _PARSED.popitem(last=False)
    return variant


def _baseline_id(candidates: Sequence[tuple[int, str, str]], active_ids: Sequence[int]) -> int:
    """The latest baseline variant; else the active variant with the lowest version; else the first.

    ``candidates``: (id, kind, version) of every variant of the prompt, in id order."""
    baselines = [c for c in candidates if c[1] == VariantKind.BASELINE.value]
    active = [c for c in candidates if c[0] in set(active_ids)]
    pool = baselines or active or list(candidates)

    def key(c: tuple[int, str, str]) -> tuple[int, int, int, int, str]:
        return parse_version(c[2]).sort_key()

    return (max(pool, key=key) if baselines else min(pool, key=key))[0]


def _chunks(items: Sequence[_K], size: int = _CHUNK) -> Iterator[Sequence[_K]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _experiments(s: Session, prompts: Mapping[int, str]) -> dict[int, ServingExperiment]:
    """The latest routing experiment of each prompt that has one with a share above 0."""
    latest: dict[int, Experiment] = {}
    for ids in _chunks(list(prompts)):
        found = s.scalars(
            select(Experiment)
            .where(Experiment.prompt_id.in_(ids), Experiment.status.in_(sql_values(ROUTING)))
            .order_by(Experiment.id.desc())
        )
        for exp in found:
            latest.setdefault(exp.prompt_id, exp)
    arms: dict[int, list[ServingArm]] = {}
    by_id = {exp.id: exp for exp in latest.values()}
    for ids in _chunks(list(by_id)):
        rows = s.execute(
            select(ExperimentArm, PromptVariant)
            .join(PromptVariant, PromptVariant.id == ExperimentArm.variant_id)
            .where(ExperimentArm.experiment_id.in_(ids))
            .order_by(ExperimentArm.experiment_id, ExperimentArm.arm)
        ).all()
        for a, v in rows:
            name = prompts[by_id[a.experiment_id].prompt_id]
            arms.setdefault(a.experiment_id, []).append(
                ServingArm(
                    arm=a.arm, variant=variant_from_row(name, v), share_bp=a.share_bp, is_control=a.is_control
                )
            )
    out = {}
    for prompt_id, exp in latest.items():
        exp_arms = tuple(arms.get(exp.id, ()))
        if any(a.share_bp > 0 for a in exp_arms):
            out[prompt_id] = ServingExperiment(id=exp.id, seed=exp.seed, mode=exp.mode, arms=exp_arms)
    return out


def load_plans(store: Store, names: Iterable[str]) -> dict[str, ServingPlan | PromptevolveError]:
    """The serving plans of many prompts in one read transaction and a handful of queries (whatever
    their number: names go in chunks of 500). An unknown prompt, or one without variants, maps to its
    ``NotFoundError``; a store failure raises for the whole batch."""
    wanted = list(dict.fromkeys(names))
    out: dict[str, ServingPlan | PromptevolveError] = {}
    with store.read() as s:
        prompts: dict[int, Prompt] = {}
        for chunk in _chunks(wanted):
            prompts.update((p.id, p) for p in s.scalars(select(Prompt).where(Prompt.name.in_(chunk))))
        active: dict[int, list[tuple[PromptVariant, int]]] = {}
        candidates: dict[int, list[tuple[int, str, str]]] = {}
        for ids in _chunks(list(prompts)):
            rows = s.execute(
                select(PromptVariant, VariantState.share_bp)
                .join(VariantState, VariantState.variant_id == PromptVariant.id)
                .where(PromptVariant.prompt_id.in_(ids), VariantState.active.is_(True))
                .order_by(PromptVariant.id)
            ).all()
            for v, bp in rows:
                active.setdefault(v.prompt_id, []).append((v, bp))
            for vid, pid, kind, version in s.execute(
                select(PromptVariant.id, PromptVariant.prompt_id, PromptVariant.kind, PromptVariant.version)
                .where(PromptVariant.prompt_id.in_(ids))
                .order_by(PromptVariant.id)
            ):
                candidates.setdefault(pid, []).append((vid, kind, version))
        chosen = {
            pid: _baseline_id(candidates[pid], [v.id for v, _ in active.get(pid, ())]) for pid in candidates
        }
        loaded = {v.id: v for rows in active.values() for v, _ in rows}
        for ids in _chunks([vid for vid in chosen.values() if vid not in loaded]):
            loaded.update(
                (v.id, v) for v in s.scalars(select(PromptVariant).where(PromptVariant.id.in_(ids)))
            )
        experiments = _experiments(s, {pid: p.name for pid, p in prompts.items()})
        by_name = {p.name: p for p in prompts.values()}
        for name in wanted:
            prompt = by_name.get(name)
            if prompt is None:
                out[name] = unknown_prompt(s, name)
            elif prompt.id not in chosen:
                out[name] = NotFoundError(f"prompt {name!r} has no variants")
            else:
                out[name] = ServingPlan(
                    prompt_id=prompt.id,
                    name=prompt.name,
                    config=dict(prompt.config or {}),
                    active=tuple((variant_from_row(name, v), bp) for v, bp in active.get(prompt.id, ())),
                    baseline=variant_from_row(name, loaded[chosen[prompt.id]]),
                    experiment=experiments.get(prompt.id),
                )
    return out


def load_plan(store: Store, name: str) -> ServingPlan:
    """Read a prompt's serving plan; ``NotFoundError`` for an unknown prompt."""
    plan = load_plans(store, [name])[name]
    if isinstance(plan, PromptevolveError):
        raise plan
    return plan


def unknown_prompt(s: Session, name: str) -> NotFoundError:
    """The error for a prompt name the registry does not hold, with the way out that fits.

    A fresh database holds no prompt at all: the README's first examples then meet this error, so it
    names ``promptevolve init`` (the bundled baselines) rather than an empty list.
    """
    if s.scalar(select(Prompt.id).limit(1)) is None:
        return NotFoundError(
            f"unknown prompt {name!r}: the registry is empty; `promptevolve init` registers the bundled "
            "baselines (ai_enrichment_en, ai_enrichment_fr), `promptevolve prompt add` your own"
        )
    return NotFoundError(f"unknown prompt {name!r}: `promptevolve prompt list` shows the known ones")
