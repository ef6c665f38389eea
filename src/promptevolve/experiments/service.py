"""The experiment service: create, start, pause, analyze, stop, promote and roll back, with a decision log.

Every public method is one transaction on the experiment's row, locked first (``SELECT … FOR UPDATE`` on
PostgreSQL; on SQLite the write transaction holds the database's write lock from ``BEGIN IMMEDIATE``),
so two processes analysing the same experiment at once apply a ramp step, a promotion or a rollback
exactly once: the second one waits, then sees the new step and has nothing to do. ``analyze`` reads the
sums (``sums.py``) inside that transaction and hands them to the pure decision rule (``decide.py``); what
it returns is persisted in the same transaction: status, ramp step, arm shares (which routing reads),
the rest of the state in ``experiments.config["state"]`` (each part stored once, ``plan.py``) and one
``decisions`` row per decision, with its reason and figures.

**The registry** is changed in that same transaction (``Registry.promote_within`` /
``rollback_within``, audited like any state change): promotion activates the winner alone and points
``production`` at it; a rollback serves the control alone again. Deciding and applying in one
transaction, behind the experiment's row lock, is what keeps a promotion and a rollback issued at the
same moment from both reaching the registry in an interleaved order (issue 14 found an experiment
``rolled_back`` while its treatment served 100 %). Lock order is always experiment row, then prompt
row; registry writes lock only the prompt row, so the two never wait on each other in a cycle.
Databases written by older versions may hold a registry change still ``pending`` in the experiment's
config (they applied it after committing); the next locked call carries it out and clears it.

Tests and the simulation pass a ``Clock``; the telemetry's times come from the SDK (wall time), so the
default is the system clock.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from promptevolve.core.errors import ConflictError, NotFoundError, PromptevolveError, ValidationError
from promptevolve.core.protocols import Clock, SystemClock
from promptevolve.core.statuses import ROUTING, TERMINAL, ExperimentStatus, sql_values
from promptevolve.experiments.decide import Observation, Outcome, decide
from promptevolve.experiments.models import (
    AnalysisResult,
    ArmInfo,
    DecisionRecord,
    ExperimentCreate,
    ExperimentInfo,
    ExperimentReport,
    GuardrailSpec,
)
from promptevolve.experiments.plan import (
    FULL_BP,
    Plan,
    State,
    json_safe,
    plan_from_json,
    plan_to_json,
    state_from_json,
    state_to_json,
)
from promptevolve.experiments.planning import arm_keys, build_plan, first_state, look_seed, minimum_sample
from promptevolve.experiments.reporting import analysis_result, series
from promptevolve.experiments.rollout import target_shares
from promptevolve.experiments.rollups import (
    RollupSpec,
    arm_sums_of,
    exposed_units_of,
    prepare_if_writable,
)
from promptevolve.registry.service import Registry, default_actor
from promptevolve.scoring import ScoringConfig, metric_spec
from promptevolve.store.engine import Store
from promptevolve.store.tables import Decision, Experiment, ExperimentArm, Prompt, PromptVariant, utcnow

__all__ = ["ExperimentService"]

_S = ExperimentStatus


class ExperimentService:
    """A/B tests and bandits between variants of a prompt. After each change of routing the prompt's
    name goes to ``registry.notify_changed`` (the registry's ``on_change``: the SDK's cache
    invalidates), so a process has one listener for every change. Build it with
    ``promptevolve.compose``, which shares one registry between the services."""

    def __init__(
        self,
        store: Store,
        *,
        registry: Registry,
        actor: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.actor = actor or default_actor()
        self.registry = registry
        self.clock = clock or SystemClock()

    # --- reads ---------------------------------------------------------------------------------------

    def get(self, experiment_id: int) -> ExperimentInfo:
        with self.store.read() as s:
            return self._info(s, self._experiment(s, experiment_id))

    def list(self, prompt: str | None = None) -> list[ExperimentInfo]:
        with self.store.read() as s:
            query = select(Experiment).order_by(Experiment.id)
            if prompt is not None:
                query = query.where(Experiment.prompt_id == self._prompt(s, prompt).id)
            return [self._info(s, e) for e in s.scalars(query)]

    def decisions(self, experiment_id: int) -> builtins.list[DecisionRecord]:
        with self.store.read() as s:
            self._experiment(s, experiment_id)
            rows = s.scalars(
                select(Decision).where(Decision.experiment_id == experiment_id).order_by(Decision.id)
            )
            return [
                DecisionRecord(
                    id=d.id,
                    experiment_id=d.experiment_id,
                    action=d.action,
                    reason=d.reason,
                    figures=d.figures or {},
                    actor=d.actor,
                    at=d.at,
                )
                for d in rows
            ]

    # --- lifecycle -----------------------------------------------------------------------------------

    def create(self, request: ExperimentCreate, *, actor: str | None = None) -> ExperimentInfo:
        """Create a draft experiment; the minimum sample comes from the control's history or a prior."""
        who = actor or self.actor
        with self.store.write() as s:
            prompt = self._prompt(s, request.prompt)
            versions = [request.control, *request.treatments]
            variants = [self._variant(s, prompt, v) for v in versions]
            keys = arm_keys(len(request.treatments))
            scoring = ScoringConfig.from_prompt_config(prompt.config)
            min_sample, source = minimum_sample(s, request, variants[0].id, scoring)
            plan = build_plan(request, keys, min_sample)
            state = State(status=_S.DRAFT, shares_bp=target_shares(plan))
            exp = Experiment(
                prompt_id=prompt.id,
                name=request.name or f"{prompt.name}: {' vs '.join(versions)}",
                mode=plan.mode.value,
                status=_S.DRAFT.value,
                primary_metric=plan.metric,
                guardrails=[g.model_dump() for g in request.guardrails],
                alpha=plan.alpha,
                mde=plan.mde,
                power=request.power,
                min_sample=min_sample,
                procedure=plan.procedure.value,
                seed=request.seed or secrets.token_hex(8),
                ramp_step=None,
                config={
                    "plan": plan_to_json(plan),
                    "state": state_to_json(state),
                    "scoring": scoring.to_stored(),
                    "min_sample_source": source,
                },
                created_by=who,
            )
            s.add(exp)
            s.flush()
            for key, variant in zip(keys, variants, strict=True):
                s.add(
                    ExperimentArm(
                        experiment_id=exp.id,
                        arm=key,
                        variant_id=variant.id,
                        share_bp=state.shares_bp[key],
                        is_control=key == plan.control,
                    )
                )
            s.flush()
            figures = {"plan": plan_to_json(plan), "min_sample_source": source}
            self._log(
                s, exp, "create", f"created: {plan.metric} by {plan.procedure.value}; {source}", figures, who
            )
            return self._info(s, exp)

    def create_and_start(self, request: ExperimentCreate, *, actor: str | None = None) -> ExperimentInfo:
        """Create the test and start it: the one way a test is started without a person starting a draft
        (evolution's ``auto_ab``, the autopilot, the demo, ``ab create --start``).

        A refused start (another experiment of the prompt routes traffic) stops the draft, with the
        refusal as its reason, and raises the refusal: no draft is left behind that nobody will start,
        and the decision log says why. The start goes through ``start``, so the registry's ``on_change``
        hears the new routing at once (the server's SDK cache serves the test from the next call)."""
        draft = self.create(request, actor=actor)
        try:
            return self.start(draft.id, actor=actor)
        except PromptevolveError as refused:
            self.stop(draft.id, reason=f"the A/B test could not start: {refused}", actor=actor)
            raise

    def start(self, experiment_id: int, *, actor: str | None = None) -> ExperimentInfo:
        """Start a draft (at the first ramp step) or resume a paused experiment."""
        who = actor or self.actor
        with self._locked(experiment_id) as (s, exp):
            plan, state = self._load(s, exp)
            if state.status not in (_S.DRAFT, _S.PAUSED):
                raise ConflictError(
                    f"experiment {exp.id} is {state.status.value}: only a draft or paused one starts"
                )
            self._refuse_second_live(s, exp)
            now = self.clock.now()
            if state.status is _S.PAUSED:
                after = replace(state, status=state.resume_status or _S.RUNNING, resume_status=None)
                action, reason = "resume", f"resumed ({after.status.value})"
            else:
                after = first_state(plan, state, now)
                exp.started_at = utcnow()
                shares = ", ".join(f"{a} {bp / 100:g} %" for a, bp in after.shares_bp.items())
                action, reason = "start", f"started {after.status.value}: {shares}"
            self._save(s, exp, after)
            self._log(s, exp, action, reason, {"shares_bp": dict(after.shares_bp)}, who)
            info = self._info(s, exp)
        self._changed(info.prompt)
        return info

    def pause(
        self, experiment_id: int, *, reason: str | None = None, actor: str | None = None
    ) -> ExperimentInfo:
        """Stop routing for now (the registry serves as before); ``start`` resumes."""
        who = actor or self.actor
        with self._locked(experiment_id) as (s, exp):
            _, state = self._load(s, exp)
            if state.status not in ROUTING:
                raise ConflictError(f"experiment {exp.id} is {state.status.value}: only a live one pauses")
            self._save(s, exp, replace(state, status=_S.PAUSED, resume_status=state.status))
            self._log(s, exp, "pause", reason or "paused", {}, who)
            info = self._info(s, exp)
        self._changed(info.prompt)
        return info

    def stop(
        self, experiment_id: int, *, reason: str | None = None, actor: str | None = None
    ) -> ExperimentInfo:
        """End without a winner; the registry keeps serving what it served before the experiment."""
        who = actor or self.actor
        with self._locked(experiment_id) as (s, exp):
            _, state = self._load(s, exp)
            if state.status in TERMINAL:
                raise ConflictError(f"experiment {exp.id} is already {state.status.value}")
            self._save(s, exp, replace(state, status=_S.STOPPED))
            self._log(s, exp, "stop", reason or "stopped", {}, who)
            info = self._info(s, exp)
        self._changed(info.prompt)
        return info

    def promote(
        self,
        experiment_id: int,
        *,
        arm: str | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> ExperimentInfo:
        """Promote the winner (or ``arm``) now, skipping the rest of the ramp: it serves alone."""
        who = actor or self.actor
        with self._locked(experiment_id) as (s, exp):
            plan, state = self._load(s, exp)
            if state.status in TERMINAL or state.status is _S.DRAFT:
                raise ConflictError(f"experiment {exp.id} is {state.status.value}: nothing to promote")
            chosen = arm or state.winner
            if chosen is None:
                raise ConflictError(
                    f"experiment {exp.id} has no winner yet: name the arm to promote it anyway "
                    f"(one of {', '.join(plan.treatments)})"
                )
            if chosen not in plan.treatments:
                raise ValidationError(
                    f"{chosen!r} is not a treatment of experiment {exp.id} ({', '.join(plan.treatments)}); "
                    "to keep the control, stop the experiment"
                )
            shares = {a: (FULL_BP if a == chosen else 0) for a in plan.arms}
            self._save(s, exp, replace(state, status=_S.CONCLUDED, winner=chosen, shares_bp=shares))
            version = self._arm_versions(s, exp)[chosen]
            text = reason or f"promoted {chosen} ({version}) by hand"
            self._log(s, exp, "promote", text, {"winner": chosen, "version": version, "manual": True}, who)
            self._registry_change(s, exp, "promote", version, text, who)
            info = self._info(s, exp)
        self._changed(info.prompt)
        return info

    def rollback(
        self, experiment_id: int, *, reason: str | None = None, actor: str | None = None
    ) -> ExperimentInfo:
        """Serve the control alone again (also after a promotion), and end the experiment."""
        who = actor or self.actor
        with self._locked(experiment_id) as (s, exp):
            plan, state = self._load(s, exp)
            if state.status in (_S.DRAFT, _S.ROLLED_BACK, _S.STOPPED):
                raise ConflictError(f"experiment {exp.id} is {state.status.value}: nothing to roll back")
            shares = {a: (FULL_BP if a == plan.control else 0) for a in plan.arms}
            self._save(s, exp, replace(state, status=_S.ROLLED_BACK, shares_bp=shares))
            version = self._arm_versions(s, exp)[plan.control]
            text = reason or "rolled back by hand"
            self._log(s, exp, "rollback", text, {"control": version, "manual": True}, who)
            self._registry_change(s, exp, "rollback", version, text, who)
            info = self._info(s, exp)
        self._changed(info.prompt)
        return info

    # --- analysis ------------------------------------------------------------------------------------

    def analyze(self, experiment_id: int, *, apply: bool = True, actor: str | None = None) -> AnalysisResult:
        """Look at the data and apply the decision rule; ``apply=False`` only reports (no lock, no write)."""
        who = actor or self.actor
        now = self.clock.now()
        rolled = self._prepare_rollups(experiment_id, now)
        session = self._locked(experiment_id) if apply else self._reading(experiment_id)
        with session as (s, exp):
            plan, state = self._load(s, exp)
            scoring = _scoring(exp)
            obs = self._observe(s, exp.id, plan, state, scoring, now, rolled=rolled)
            rng = np.random.default_rng(look_seed(exp.seed, state.looks))
            outcome = decide(plan, state, obs, now=now, rng=rng)
            if apply and outcome.state != state:
                self._apply(s, exp, plan, outcome, who)
            coverage = self._coverage(s, exp.id, plan, outcome.state, scoring, rolled=rolled)
            if state.status not in ROUTING:  # a finished experiment: say how it finished
                outcome = replace(outcome, reason=self._last_reason(s, exp) or outcome.reason)
            result = analysis_result(
                self._info(s, exp),
                plan,
                outcome,
                obs,
                state,
                coverage,
                applied=apply and outcome.changed,
                at=utcnow(),
            )
        if apply and outcome.changed:
            self._changed(result.experiment.prompt)
        return result

    def report(self, experiment_id: int, *, buckets: int = 40) -> ExperimentReport:
        """The analysis without applying it, the lift over time and the decision log."""
        analysis = self.analyze(experiment_id, apply=False)
        with self.store.read() as s:
            exp = self._experiment(s, experiment_id)
            plan, state = self._load(s, exp)
            scoring = _scoring(exp)
            end = exp.ended_at.timestamp() if exp.ended_at else self.clock.now()
            points, note = series(s, exp.id, plan, state, scoring, end=end, buckets=buckets)
        return ExperimentReport(
            analysis=analysis,
            series=points,
            series_start=state.measure_since if state.measure_since is not None else state.started_at,
            series_note=note,
            decisions=self.decisions(experiment_id),
        )

    # --- internals: loading and saving ---------------------------------------------------------------

    @contextmanager
    def _locked(self, experiment_id: int) -> Iterator[tuple[Session, Experiment]]:
        with self.store.write() as s:
            exp = s.scalar(select(Experiment).where(Experiment.id == experiment_id).with_for_update())
            if exp is None:
                raise _unknown(experiment_id)
            self._settle_legacy(s, exp)
            yield s, exp

    @contextmanager
    def _reading(self, experiment_id: int) -> Iterator[tuple[Session, Experiment]]:
        with self.store.read() as s:
            yield s, self._experiment(s, experiment_id)

    @staticmethod
    def _experiment(s: Session, experiment_id: int) -> Experiment:
        exp = s.get(Experiment, experiment_id)
        if exp is None:
            raise _unknown(experiment_id)
        return exp

    @staticmethod
    def _prompt(s: Session, name: str) -> Prompt:
        prompt = s.scalar(select(Prompt).where(Prompt.name == name))
        if prompt is None:
            raise NotFoundError(f"unknown prompt {name!r}: `promptevolve prompt list` shows the known ones")
        return prompt

    @staticmethod
    def _variant(s: Session, prompt: Prompt, version: str) -> PromptVariant:
        variant = s.scalar(
            select(PromptVariant).where(
                PromptVariant.prompt_id == prompt.id, PromptVariant.version == version
            )
        )
        if variant is None:
            raise NotFoundError(
                f"prompt {prompt.name!r} has no version {version}: `promptevolve prompt show {prompt.name}` "
                "lists its versions"
            )
        return variant

    @staticmethod
    def _arms(s: Session, exp: Experiment) -> builtins.list[ExperimentArm]:
        return list(
            s.scalars(
                select(ExperimentArm).where(ExperimentArm.experiment_id == exp.id).order_by(ExperimentArm.arm)
            )
        )

    def _arm_versions(self, s: Session, exp: Experiment) -> dict[str, str]:
        rows = s.execute(
            select(ExperimentArm.arm, PromptVariant.version)
            .join(PromptVariant, PromptVariant.id == ExperimentArm.variant_id)
            .where(ExperimentArm.experiment_id == exp.id)
        ).all()
        return {arm: version for arm, version in rows}

    def _load(self, s: Session, exp: Experiment) -> tuple[Plan, State]:
        """The plan and state: status, step and shares from the columns (routing reads them), the rest
        from ``config["state"]`` (``plan.py``: each part stored once)."""
        plan = plan_from_json(exp.config["plan"])
        shares = {a.arm: a.share_bp for a in self._arms(s, exp)}
        state = state_from_json(
            exp.config["state"], status=_S(exp.status), shares_bp=shares, step=exp.ramp_step
        )
        return plan, state

    def _save(self, s: Session, exp: Experiment, state: State) -> None:
        exp.status = state.status.value
        exp.ramp_step = state.step
        if state.status in TERMINAL and exp.ended_at is None:
            exp.ended_at = utcnow()
        for arm in self._arms(s, exp):
            arm.share_bp = state.shares_bp.get(arm.arm, 0)
        exp.config = {**exp.config, "state": state_to_json(state)}

    def _apply(self, s: Session, exp: Experiment, plan: Plan, outcome: Outcome, who: str) -> None:
        self._save(s, exp, outcome.state)
        for note in outcome.notes:
            self._log(s, exp, note.action, note.reason, dict(note.figures), who)
        versions = self._arm_versions(s, exp)
        if outcome.verdict == "promoted" and outcome.state.winner is not None:
            self._registry_change(s, exp, "promote", versions[outcome.state.winner], outcome.reason, who)
        elif outcome.verdict == "rolled_back":
            self._registry_change(s, exp, "rollback", versions[plan.control], outcome.reason, who)

    @staticmethod
    def _log(
        s: Session, exp: Experiment, action: str, reason: str, figures: dict[str, Any], who: str
    ) -> None:
        s.add(
            Decision(
                prompt_id=exp.prompt_id,
                experiment_id=exp.id,
                action=action,
                reason=reason,
                figures=json_safe(figures),
                actor=who,
            )
        )

    @staticmethod
    def _last_reason(s: Session, exp: Experiment) -> str | None:
        last = s.scalar(
            select(Decision).where(Decision.experiment_id == exp.id).order_by(Decision.id.desc()).limit(1)
        )
        return f"last decision ({last.action}): {last.reason}" if last else None

    def _registry_change(
        self, s: Session, exp: Experiment, action: str, version: str, reason: str, who: str
    ) -> None:
        """Promote ``version`` or roll back to it, in the experiment's transaction (module docstring)."""
        name = s.get_one(Prompt, exp.prompt_id).name
        why = f"experiment {exp.id}: {reason}"
        if action == "promote":
            winner = self.registry.promote_within(s, name, version, actor=who, reason=why)
            exp.winner_variant_id = winner.id
        else:
            self.registry.rollback_within(s, name, version, actor=who, reason=why)

    def _settle_legacy(self, s: Session, exp: Experiment) -> None:
        """Carry out a registry change an older version left ``pending`` (it applied them after commit)."""
        pending = exp.config.get("pending")
        if not pending:
            return
        self._registry_change(s, exp, pending["action"], pending["version"], pending["reason"], self.actor)
        exp.config = {k: v for k, v in exp.config.items() if k != "pending"}

    def _changed(self, name: str) -> None:
        """Tell the registry's listener after commit (routing, and the registry when it changed)."""
        self.registry.notify_changed(name)

    def _refuse_second_live(self, s: Session, exp: Experiment) -> None:
        # Two drafts of one prompt started at once each hold only their own row: the prompt's row,
        # locked second as everywhere (module docstring), makes the check and the start one decision.
        s.execute(select(Prompt.id).where(Prompt.id == exp.prompt_id).with_for_update())
        other = s.scalar(
            select(Experiment.id).where(
                Experiment.prompt_id == exp.prompt_id,
                Experiment.id != exp.id,
                Experiment.status.in_(sql_values(ROUTING)),
            )
        )
        if other is not None:
            raise ConflictError(
                f"experiment {other} already routes this prompt's traffic: "
                f"stop or pause it before starting {exp.id}"
            )

    # --- internals: measuring ------------------------------------------------------------------------

    def _prepare_rollups(self, experiment_id: int, now: float) -> bool:
        """Bring the rollups this look reads up to date (built the first time), in their own transaction
        before the analysis's: ``_observe`` then reads O(arms) rows (``rollups.py``). False when the
        store is read-only: the look then reads the raw rows."""
        with self.store.read() as s:
            exp = s.get(Experiment, experiment_id)
            if exp is None or exp.config.get("state") is None:
                return False  # the analysis itself says what is wrong
            plan, state = self._load(s, exp)
            scoring = _scoring(exp)
        return prepare_if_writable(self.store, _rollup_specs(experiment_id, plan, state, scoring, now))

    def _observe(
        self,
        s: Session,
        exp_id: int,
        plan: Plan,
        state: State,
        scoring: ScoringConfig,
        now: float,
        *,
        rolled: bool = True,
    ) -> Observation:
        units: dict[str, int] = {}
        if state.phase_since is not None and now >= state.phase_since + plan.srm_grace_s:
            since = state.phase_since + plan.srm_grace_s
            units = exposed_units_of(s, exp_id, since=since, rolled=rolled)
        primary = {}
        if state.measure_since is not None:
            sums = arm_sums_of(s, exp_id, plan.spec, scoring, since=state.measure_since, rolled=rolled)
            primary = {arm: v.ratio for arm, v in sums.items()}
        guardrails = {
            g.metric: {
                arm: v.ratio
                for arm, v in arm_sums_of(
                    s, exp_id, g.spec, scoring, since=state.started_at, rolled=rolled
                ).items()
            }
            for g in plan.guardrails
        }
        return Observation(units, primary, guardrails)

    @staticmethod
    def _coverage(
        s: Session, exp_id: int, plan: Plan, state: State, scoring: ScoringConfig, *, rolled: bool = True
    ) -> dict[str, float]:
        if plan.metric != "composite" or state.measure_since is None:
            return {}
        coverage = metric_spec("coverage")
        sums = arm_sums_of(s, exp_id, coverage, scoring, since=state.measure_since, rolled=rolled)
        return {arm: v.sample.mean for arm, v in sums.items()}

    def _info(self, s: Session, exp: Experiment) -> ExperimentInfo:
        plan = plan_from_json(exp.config["plan"])
        rows = s.execute(
            select(ExperimentArm, PromptVariant.version)
            .join(PromptVariant, PromptVariant.id == ExperimentArm.variant_id)
            .where(ExperimentArm.experiment_id == exp.id)
        ).all()
        state = state_from_json(
            exp.config["state"],
            status=_S(exp.status),
            shares_bp={a.arm: a.share_bp for a, _ in rows},
            step=exp.ramp_step,
        )
        order = {a: i for i, a in enumerate(plan.arms)}
        arms = sorted(
            (
                ArmInfo(
                    arm=a.arm,
                    version=v,
                    variant_id=a.variant_id,
                    share=a.share_bp / 100,
                    is_control=a.is_control,
                )
                for a, v in rows
            ),
            key=lambda x: order.get(x.arm, len(order)),
        )
        winner = next((a.version for a in arms if a.arm == state.winner), None)
        return ExperimentInfo(
            id=exp.id,
            name=exp.name,
            prompt=s.get_one(Prompt, exp.prompt_id).name,
            mode=exp.mode,
            status=exp.status,
            metric=exp.primary_metric,
            relative=plan.relative,
            procedure=exp.procedure,
            alpha=exp.alpha,
            mde=plan.mde,
            power=exp.power,
            min_sample=plan.min_sample,
            min_sample_source=exp.config.get("min_sample_source", ""),
            seed=exp.seed,
            ramp=[bp / 100 for bp in plan.ladder_bp],
            ramp_step=exp.ramp_step,
            guardrails=[GuardrailSpec(**g) for g in exp.guardrails],
            arms=arms,
            winner=winner,
            created_by=exp.created_by,
            created_at=exp.created_at,
            started_at=exp.started_at,
            ended_at=exp.ended_at,
        )


def _rollup_specs(
    exp_id: int, plan: Plan, state: State, scoring: ScoringConfig, now: float
) -> builtins.list[RollupSpec]:
    """The rollups ``_observe`` and ``_coverage`` read for this state (see there); none before a start."""
    if state.started_at is None:
        return []
    specs = []
    if state.phase_since is not None and now >= state.phase_since + plan.srm_grace_s:
        specs.append(RollupSpec("exposure", exp_id, since=state.phase_since + plan.srm_grace_s))
    if state.measure_since is not None:
        metrics = [plan.spec.name] + (["coverage"] if plan.metric == "composite" else [])
        specs += [
            RollupSpec("arm", exp_id, metric=m, config=scoring, since=state.measure_since) for m in metrics
        ]
    specs += [
        RollupSpec("arm", exp_id, metric=g.spec.name, config=scoring, since=state.started_at)
        for g in plan.guardrails
    ]
    return specs


def _unknown(experiment_id: int) -> NotFoundError:
    return NotFoundError(f"no experiment with id {experiment_id}: `promptevolve ab status` lists them")


def _scoring(exp: Experiment) -> ScoringConfig:
    """The scoring the experiment was created with (its copy: later changes of the prompt's weights do
    not change a running experiment's metric)."""
    return ScoringConfig.from_stored(
        exp.config.get("scoring"), where=f"experiment {exp.id}: config['scoring']"
    )
