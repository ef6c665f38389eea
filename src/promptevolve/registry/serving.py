"""The serving plan of a prompt: everything the hot path needs, read in one transaction.

A ``ServingPlan`` is an immutable snapshot: the active variants with their shares, the baseline (the
variant of last resort when another fails), and the running experiment with its arms if there is one.
Templates arrive parsed, so a call only renders. The SDK caches plans (``registry.cache``); nothing on
the hot path touches the database.

The contract with the experiments package is the store: an experiment whose ``status`` is ``running``
or ``ramping`` routes traffic between its ``experiment_arms`` by their ``share_bp``. The experiments
service changes those rows (ramp steps, bandit weights); routing only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from promptevolve.core.errors import NotFoundError
from promptevolve.core.types import ModelSettings, VariantKind
from promptevolve.registry.versioning import parse_version
from promptevolve.store.engine import Store
from promptevolve.store.tables import Experiment, ExperimentArm, Prompt, PromptVariant, VariantState
from promptevolve.templates import ParsedTemplate, parse_template

__all__ = [
    "ROUTING_STATUSES",
    "ServingArm",
    "ServingExperiment",
    "ServingPlan",
    "ServingVariant",
    "load_plan",
    "unknown_prompt",
    "variant_from_row",
]

#: Experiment statuses in which the experiment's arms decide routing.
ROUTING_STATUSES = ("running", "ramping")


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

    def routing_arms(self) -> tuple[tuple[str, int], ...]:
        """Active variants as routing arms keyed by version (the baseline alone when none is active)."""
        live = tuple((v.version, bp) for v, bp in self.active if bp > 0)
        return live or ((self.baseline.version, 10_000),)

    def variant(self, version: str) -> ServingVariant:
        for v, _ in self.active:
            if v.version == version:
                return v
        if self.baseline.version == version:
            return self.baseline
        raise NotFoundError(f"{self.name}@{version} is not serving")


def variant_from_row(prompt_name: str, row: PromptVariant) -> ServingVariant:
    return ServingVariant(
        id=row.id,
        prompt=prompt_name,
        version=row.version,
        kind=VariantKind(row.kind),
        template=parse_template(row.template),
        settings=ModelSettings(**row.settings),
    )


def _baseline(s: Session, prompt: Prompt, active: list[PromptVariant]) -> PromptVariant:
    """The latest baseline variant; else the active variant with the lowest version; else the first."""
    rows = s.scalars(select(PromptVariant).where(PromptVariant.prompt_id == prompt.id)).all()
    if not rows:
        raise NotFoundError(f"prompt {prompt.name!r} has no variants")
    baselines = [r for r in rows if r.kind == VariantKind.BASELINE.value]
    pool = baselines or active or list(rows)

    def key(r: PromptVariant) -> tuple[int, int, int, int, str]:
        return parse_version(r.version).sort_key()

    return max(pool, key=key) if baselines else min(pool, key=key)


def _experiment(s: Session, prompt: Prompt) -> ServingExperiment | None:
    exp = s.scalar(
        select(Experiment)
        .where(Experiment.prompt_id == prompt.id, Experiment.status.in_(ROUTING_STATUSES))
        .order_by(Experiment.id.desc())
        .limit(1)
    )
    if exp is None:
        return None
    rows = s.execute(
        select(ExperimentArm, PromptVariant)
        .join(PromptVariant, PromptVariant.id == ExperimentArm.variant_id)
        .where(ExperimentArm.experiment_id == exp.id)
        .order_by(ExperimentArm.arm)
    ).all()
    arms = tuple(
        ServingArm(
            arm=a.arm, variant=variant_from_row(prompt.name, v), share_bp=a.share_bp, is_control=a.is_control
        )
        for a, v in rows
    )
    if not any(a.share_bp > 0 for a in arms):
        return None
    return ServingExperiment(id=exp.id, seed=exp.seed, mode=exp.mode, arms=arms)


def load_plan(store: Store, name: str) -> ServingPlan:
    """Read a prompt's serving plan; ``NotFoundError`` for an unknown prompt."""
    with store.read() as s:
        prompt = s.scalar(select(Prompt).where(Prompt.name == name))
        if prompt is None:
            raise unknown_prompt(s, name)
        rows = s.execute(
            select(PromptVariant, VariantState.share_bp)
            .join(VariantState, VariantState.variant_id == PromptVariant.id)
            .where(PromptVariant.prompt_id == prompt.id, VariantState.active.is_(True))
            .order_by(PromptVariant.id)
        ).all()
        baseline = _baseline(s, prompt, [r[0] for r in rows])
        return ServingPlan(
            prompt_id=prompt.id,
            name=prompt.name,
            config=dict(prompt.config or {}),
            active=tuple((variant_from_row(prompt.name, v), bp) for v, bp in rows),
            baseline=variant_from_row(prompt.name, baseline),
            experiment=_experiment(s, prompt),
        )


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
