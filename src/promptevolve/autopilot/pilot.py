"""The pass: one turn of the closed loop over every prompt with a policy (``Autopilot.run_once``).

For each prompt, under its lease (``leases``; a prompt whose lease another autopilot holds is left for
this pass), in order:

1. **Quiet hours**: a live experiment is analysed without applying anything; nothing else happens.
2. **A live experiment** is analysed through ``ExperimentService.analyze``, which applies the decision
   rule: ramp steps, guardrail rollbacks, the winner and its promotion (``observe``: analysed, not
   applied). While it lives, nothing else happens: at most one experiment per prompt.
3. **Drift**: the detector reads the serving variant's new executions (``watch``); an alarm is logged
   and notified, and when its size passes the policy's threshold an ``autonomous`` autopilot rolls back
   to the previous production version (a ``propose`` one recommends it).
4. **Next steps** (``decide.next_step``, pure) until one is a wait: start the A/B test of a gated
   candidate (or wait for approval), evolve from production feedback within the day's budget
   (``budget``), then start the test of what the round produced.

Every step is an entry of the decision log (``journal``) with its reason and figures, the experiment's
own decisions included; waits are written once per state. Webhook events go to the event sink given
(``notifier``) only after the transaction that made the decision has committed: the durable outbox
(``outbox``, delivered by the job engine) in the API, workers and CLI, or by default the in-memory
``notify.Notifier`` (a background thread).
An error in one prompt is logged (once) and the pass goes on with the next.

``serve`` runs passes every ``interval_s`` until its stop event is set (the CLI sets it on SIGINT and
SIGTERM); the pass in progress finishes its current prompt first.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from promptevolve.autopilot import budget, candidates, facts, journal, watch
from promptevolve.autopilot.decide import Step, StepKind, next_step
from promptevolve.autopilot.leases import Held, held, holder_id, read_lease
from promptevolve.autopilot.models import PassReport, PromptPass, StepRecord
from promptevolve.autopilot.notify import Event, EventSink, Notifier
from promptevolve.autopilot.policy import Autonomy, Policy, get_policy, local_day, policy_names
from promptevolve.autopilot.rounds import evolved_figures, evolved_reason, run_round
from promptevolve.autopilot.settings import AutopilotSettings, load_autopilot_settings
from promptevolve.core.errors import BudgetExceededError, ConflictError, NotFoundError, PromptevolveError
from promptevolve.core.protocols import Clock, SystemClock
from promptevolve.core.statuses import LIVE, ExperimentStatus
from promptevolve.evolution import EvolutionService
from promptevolve.experiments import DecisionRecord, ExperimentInfo, ExperimentService
from promptevolve.registry import Registry
from promptevolve.scoring import ScoringConfig
from promptevolve.store.engine import Store

__all__ = ["Autopilot"]

log = logging.getLogger("promptevolve.autopilot")

#: Experiment decisions worth a webhook, and the event they become.
_EXPERIMENT_EVENTS = {
    "ramp_step": "ramp_step",
    "winner": "winner_found",
    "promote": "promoted",
    "rollback": "rollback",
    "control_better": "experiment_concluded",
    "no_difference": "experiment_concluded",
    "inconclusive": "experiment_concluded",
}
_MAX_STEPS = 4


@dataclass
class _Ctx:
    """One prompt's work in one pass."""

    name: str
    prompt_id: int
    policy: Policy
    lease: Held
    now: float
    steps: list[StepRecord] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


class Autopilot:
    """Runs passes of the loop through the registry, experiment and evolution services it is given
    (``promptevolve.compose.compose_autopilot`` wires them; evolution holds the providers);
    ``clock`` decides quiet hours, budget days, leases and when drift data has settled."""

    def __init__(
        self,
        store: Store,
        *,
        registry: Registry,
        experiments: ExperimentService,
        evolution: EvolutionService,
        actor: str = "autopilot",
        clock: Clock | None = None,
        settings: AutopilotSettings | None = None,
        notifier: EventSink | None = None,
        holder: str | None = None,
    ) -> None:
        self.store = store
        self.actor = actor
        self.clock = clock or SystemClock()
        self.settings = settings or load_autopilot_settings()
        self.holder = holder or holder_id()
        self.registry, self.experiments, self.evolution = registry, experiments, evolution
        self.notifier: EventSink = notifier or Notifier(
            timeout_s=self.settings.notify_timeout_s,
            attempts=self.settings.notify_attempts,
            deadline_s=self.settings.notify_deadline_s,
        )

    # --- passes --------------------------------------------------------------------------------------

    def run_once(
        self, *, prompts: Iterable[str] | None = None, stop: threading.Event | None = None
    ) -> PassReport:
        """One pass over ``prompts`` (default: every prompt with a policy); see the module docstring."""
        started = datetime.now(UTC)
        names = list(prompts) if prompts is not None else policy_names(self.registry)
        results = []
        for name in names:
            if stop is not None and stop.is_set():
                break
            try:
                policy = get_policy(self.registry, name)
            except ValueError as exc:  # a stored policy this version cannot read
                results.append(PromptPass(prompt=name, outcome="error", error=f"invalid policy: {exc}"))
                continue
            results.append(self._prompt_pass(name, policy))
        drained = self.notifier.flush(self.settings.drain_s)
        return PassReport(
            holder=self.holder,
            started_at=started,
            finished_at=datetime.now(UTC),
            prompts=results,
            notifications_pending=0 if drained else self.notifier.pending,
        )

    def serve(
        self,
        *,
        interval_s: float,
        stop: threading.Event,
        on_pass: Callable[[PassReport], None] | None = None,
        max_passes: int | None = None,
    ) -> int:
        """Run passes every ``interval_s`` until ``stop`` is set; returns how many ran."""
        passes = 0
        while not stop.is_set():
            try:
                report = self.run_once(stop=stop)
            except PromptevolveError as exc:  # the store is down, say: try again at the next interval
                log.error("autopilot pass failed: %s", exc)
            else:
                if on_pass is not None:
                    on_pass(report)
            passes += 1
            if max_passes is not None and passes >= max_passes:
                break
            stop.wait(interval_s)
        self.notifier.close(self.settings.drain_s)
        return passes

    # --- a person's decisions ------------------------------------------------------------------------

    def approve(self, prompt: str, version: str, *, actor: str | None = None) -> StepRecord:
        """Approve a gated candidate (``propose``): its A/B test starts now if the prompt is free, else at
        the next pass. Refused, writing nothing, when ``version`` is not the candidate waiting."""
        who = actor or self.actor
        prompt_id, policy = self._require_candidate(prompt, version)
        journal.write(
            self.store,
            prompt_id,
            "approved",
            f"{version} approved for an A/B test by {who}",
            {"candidate": version},
            actor=who,
        )
        with held(
            self.store, prompt_id, self.holder, clock=self.clock, ttl_s=self.settings.lease_ttl_s
        ) as lease:
            if lease is None:
                return StepRecord(
                    action="approved", reason="approved; a pass running now starts it", logged=True
                )
            if self._live(prompt_id) is not None:
                return StepRecord(
                    action="approved", reason="approved; it starts when the live experiment ends", logged=True
                )
            ctx = _Ctx(prompt, prompt_id, policy, lease, self.clock.now())
            candidate = candidates.pending(self.store, prompt_id)
            assert candidate is not None
            self._start_experiment(ctx, candidate.version, who)
        self._send(ctx)
        return ctx.steps[-1]

    def reject(
        self, prompt: str, version: str, *, actor: str | None = None, reason: str | None = None
    ) -> None:
        """Set a gated candidate aside: the autopilot evolves again when new feedback comes."""
        who = actor or self.actor
        prompt_id, _ = self._require_candidate(prompt, version)
        text = f"{version} rejected by {who}" + (f": {reason}" if reason else "")
        journal.write(self.store, prompt_id, "candidate_rejected", text, {"candidate": version}, actor=who)

    def _require_candidate(self, prompt: str, version: str) -> tuple[int, Policy]:
        prompt_id = facts.prompt_id(self.store, prompt)
        policy = get_policy(self.registry, prompt)
        if policy is None:
            raise ConflictError(
                f"prompt {prompt!r} has no autopilot policy: `promptevolve autopilot policy {prompt}`"
            )
        candidate = candidates.pending(self.store, prompt_id)
        if candidate is None or candidate.version != version:
            waiting = (
                f"the candidate waiting is {candidate.version}" if candidate else "no candidate is waiting"
            )
            raise NotFoundError(
                f"{prompt}@{version} is not a candidate awaiting approval ({waiting}): "
                f"`promptevolve autopilot status {prompt}` shows it"
            )
        return prompt_id, policy

    # --- one prompt ----------------------------------------------------------------------------------

    def _prompt_pass(self, name: str, policy: Policy | None) -> PromptPass:
        if policy is None:
            return PromptPass(prompt=name, outcome="no_policy")
        if not policy.enabled:
            return PromptPass(prompt=name, outcome="disabled")
        prompt_id = facts.prompt_id(self.store, name)
        with held(
            self.store, prompt_id, self.holder, clock=self.clock, ttl_s=self.settings.lease_ttl_s
        ) as lease:
            if lease is None:
                other = read_lease(self.store, prompt_id)
                return PromptPass(prompt=name, outcome="locked", lease_holder=other.holder if other else None)
            ctx = _Ctx(name, prompt_id, policy, lease, self.clock.now())
            try:
                self._work(ctx)
            except Exception as exc:  # one prompt's failure must not stop the others
                log.exception("autopilot pass failed on prompt %s", name)
                message = f"{type(exc).__name__}: {exc}"
                self._record_error(ctx, message)
                return PromptPass(prompt=name, outcome="error", steps=ctx.steps, error=message)
        self._send(ctx)
        return PromptPass(prompt=name, outcome="done", steps=ctx.steps)

    def _record_error(self, ctx: _Ctx, message: str) -> None:
        try:
            self._write(
                ctx, "error", f"pass failed: {message}", {"error": message}, key=f"error:{message[:200]}"
            )
        except Exception:  # the store itself failed: the log line above is all we can do
            log.exception("could not record the failure of prompt %s", ctx.name)
        self._send(ctx)

    def _work(self, ctx: _Ctx) -> None:
        live = self._live(ctx.prompt_id)
        if ctx.policy.is_quiet(ctx.now):
            if live is not None and live.status != ExperimentStatus.PAUSED:
                self.experiments.analyze(live.id, apply=False)
            window = f"{ctx.policy.quiet_hours} {ctx.policy.timezone}"
            self._write(ctx, "skip", f"quiet hours ({window}): analysis only, no changes", {}, key="quiet")
            return
        if live is not None and self._experiment_step(ctx, live):
            return
        if ctx.policy.drift.enabled:
            self._drift_step(ctx)
        for _ in range(_MAX_STEPS):
            known = facts.gather(self.store, self.registry, ctx.name, ctx.prompt_id, ctx.policy, now=ctx.now)
            if not self._do(ctx, next_step(known)):
                return

    # --- experiments ---------------------------------------------------------------------------------

    def _experiment_step(self, ctx: _Ctx, live: ExperimentInfo) -> bool:
        """Analyse the live experiment; True while it still holds the prompt."""
        if live.status == ExperimentStatus.PAUSED:
            self._write(
                ctx,
                "skip",
                f"experiment {live.id} is paused: waiting for a person",
                {},
                key=f"paused:{live.id}",
            )
            return True
        if ctx.policy.autonomy is Autonomy.OBSERVE:
            result = self.experiments.analyze(live.id, apply=False)
            self._write(
                ctx,
                "skip",
                f"observe only: experiment {live.id} would be {result.verdict}: {result.reason}",
                {"verdict": result.verdict},
                key=f"observe_experiment:{live.id}:{result.verdict}",
            )
            return True
        ctx.lease.phase("analyzing")
        seen = facts.last_decision_id(self.store, live.id)
        result = self.experiments.analyze(live.id, actor=self.actor)
        for decision in self.experiments.decisions(live.id):
            if decision.id > seen:
                self._from_experiment(ctx, decision)
        if result.experiment.status in LIVE:
            self._write(
                ctx,
                "skip",
                f"experiment {live.id} is {result.experiment.status}: {result.reason}",
                {"verdict": result.verdict},
                key=f"experiment:{live.id}",
                experiment_id=live.id,
            )
            return True
        return False

    def _from_experiment(self, ctx: _Ctx, d: DecisionRecord) -> None:
        ctx.steps.append(
            StepRecord(
                action=d.action,
                reason=d.reason,
                figures=d.figures,
                logged=True,
                decision_id=d.id,
                experiment_id=d.experiment_id,
            )
        )
        event = _EXPERIMENT_EVENTS.get(d.action)
        if event is not None:
            ctx.events.append(Event(event, ctx.name, d.action, d.reason, d.figures, d.id, d.experiment_id))

    def _start_experiment(self, ctx: _Ctx, candidate: str, who: str) -> None:
        ctx.lease.phase("starting")
        serving = self.registry.get_variant(ctx.name)
        plan = ctx.policy.experiment.create(
            ctx.name, serving.version, candidate, f"autopilot: {serving.version} vs {candidate}"
        )
        try:
            info = self.experiments.create_and_start(plan, actor=who)
        except PromptevolveError as exc:
            self._write(
                ctx,
                "skip",
                f"A/B test of {candidate} not started: {exc}",
                {"candidate": candidate},
                key=f"start_failed:{candidate}",
            )
            return
        shares = {a.arm: a.share for a in info.arms}
        self._write(
            ctx,
            "experiment_started",
            f"A/B test {info.id} started: {serving.version} (control) against {candidate}, "
            f"{info.metric} by {info.procedure}, ramp {info.ramp}",
            {
                "candidate": candidate,
                "control": serving.version,
                "shares": shares,
                "alpha": info.alpha,
                "mde": info.mde,
                "min_sample": info.min_sample,
            },
            experiment_id=info.id,
            event="experiment_started",
            actor=who,
        )

    # --- drift ---------------------------------------------------------------------------------------

    def _drift_step(self, ctx: _Ctx) -> None:
        serving = self.registry.get_variant(ctx.name)
        scoring = ScoringConfig.from_prompt_config(facts.prompt_config(self.store, ctx.prompt_id))
        reading = watch.update_drift(
            self.store, ctx.prompt_id, serving.id, ctx.policy.drift, scoring, now=ctx.now
        )
        severe: list[tuple[str, float, float]] = []
        for metric, alarm in reading.alarms:
            limit = (
                ctx.policy.drift.rollback_drop
                if metric == "composite"
                else ctx.policy.drift.rollback_error_rate
            )
            figures = {
                "metric": metric,
                "variant": serving.version,
                "reference": alarm.reference,
                "level": alarm.level,
                "shift": alarm.shift,
                "statistic": alarm.statistic,
                "batches": alarm.batches,
                "monitored_batches": alarm.monitored,
                "rollback_at": limit,
            }
            verb = "dropped" if metric == "composite" else "rose"
            self._write(
                ctx,
                "drift_detected",
                f"{metric} of {serving.version} {verb} from {alarm.reference:.3f} to {alarm.level:.3f} "
                f"over the last {alarm.batches} batches "
                f"(CUSUM {alarm.statistic:.1f} > {ctx.policy.drift.threshold:g})",
                figures,
                event="drift_detected",
            )
            if limit is not None and alarm.size >= limit:
                severe.append((metric, alarm.size, limit))
        if severe:
            self._severe_drift(ctx, serving.version, severe)

    def _severe_drift(self, ctx: _Ctx, serving: str, severe: list[tuple[str, float, float]]) -> None:
        why = "; ".join(f"{m} worse by {size:.3f} (threshold {limit:g})" for m, size, limit in severe)
        target = self._previous_production(ctx.name, serving)
        if target is None:
            self._write(
                ctx,
                "rollback_recommended",
                f"severe drift ({why}) but no earlier production version to roll back to",
                {"serving": serving},
            )
            return
        figures = {"from": serving, "to": target, "severe": [list(s) for s in severe]}
        if ctx.policy.autonomy is not Autonomy.AUTONOMOUS:
            self._write(
                ctx,
                "rollback_recommended",
                f"severe drift ({why}): roll back to {target} with "
                f"`promptevolve prompt rollback {ctx.name} {target}`",
                figures,
            )
            return
        self.registry.rollback(ctx.name, target, actor=self.actor, reason=f"autopilot: severe drift ({why})")
        restored = self.registry.get_variant(ctx.name, target)
        watch.restart(self.store, ctx.prompt_id, restored.id, now=ctx.now)
        self._write(
            ctx,
            "drift_rollback",
            f"rolled back from {serving} to {target}: severe drift ({why})",
            figures,
            event="rollback",
        )

    def _previous_production(self, name: str, serving: str) -> str | None:
        """The newest version the ``production`` label pointed at before, other than ``serving``."""
        for entry in self.registry.history(name, limit=500):
            if entry.action != "label":
                continue
            for side in (entry.after, entry.before):
                version = (side or {}).get("version")
                if (side or {}).get("label") == "production" and version and version != serving:
                    return str(version)
        return None

    # --- deciding and doing --------------------------------------------------------------------------

    def _do(self, ctx: _Ctx, step: Step) -> bool:
        """Carry out one step; True when the next step should be decided in this pass."""
        kind = step.kind
        if kind is StepKind.EVOLVE:
            return self._evolve(ctx, step)
        if kind is StepKind.START_EXPERIMENT:
            self._start_experiment(ctx, str(step.figures["candidate"]), self.actor)
            return False
        event = {
            StepKind.AWAIT_APPROVAL: "candidate_ready",
            StepKind.BUDGET_EXHAUSTED: "budget_exhausted",
        }.get(kind)
        self._write(ctx, kind.value, step.reason, dict(step.figures), key=step.key, event=event)
        return kind is StepKind.STALE_CANDIDATE

    def _evolve(self, ctx: _Ctx, step: Step) -> bool:
        policy, day = ctx.policy, local_day(ctx.now, ctx.policy.timezone)
        grant = budget.reserve(
            self.store,
            ctx.prompt_id,
            day,
            calls=step.calls,
            tokens=step.tokens,
            daily_calls=policy.daily_calls,
            daily_tokens=policy.daily_tokens,
        )
        if grant is None:  # another process spent it in between
            self._write(
                ctx,
                "budget_exhausted",
                "today's evolution budget is spent",
                {},
                key=f"budget:{day}",
                event="budget_exhausted",
            )
            return False
        ctx.lease.phase("evolving")
        trigger = str(step.figures.get("trigger", ""))
        try:
            parent = self.registry.get_variant(ctx.name).version
            seed = journal.rounds(self.store, ctx.prompt_id)
            report = run_round(self.evolution, ctx.name, parent, policy.evolution, grant, seed=seed)
        except BudgetExceededError as exc:  # what is left today cannot pay for the smallest round
            budget.settle(self.store, grant, calls=0, tokens=0)
            self._write(
                ctx,
                "budget_exhausted",
                f"evolution due ({trigger}), but what is left today cannot pay for a round: {exc}",
                {"trigger": trigger, "budget_calls": grant.calls, "budget_tokens": grant.tokens},
                key=f"budget:{day}",
                event="budget_exhausted",
            )
            return False
        except PromptevolveError as exc:  # refused before spending (no usable data, …)
            budget.settle(self.store, grant, calls=0, tokens=0)
            watch.clear_pending(self.store, ctx.prompt_id)
            self._write(
                ctx,
                "evolve_failed",
                f"evolution round not run: {exc}",
                {
                    "trigger": trigger,
                    "budget_calls": grant.calls,
                    "budget_tokens": grant.tokens,
                    "error": type(exc).__name__,
                },
            )
            return False
        budget.settle(self.store, grant, calls=report.spend.calls, tokens=report.spend.tokens)
        watch.clear_pending(self.store, ctx.prompt_id)
        self._write(ctx, "evolved", evolved_reason(report), evolved_figures(report, grant, trigger))
        return True

    # --- the log and the webhook ---------------------------------------------------------------------

    def _live(self, pid: int) -> ExperimentInfo | None:
        exp_id = facts.live_experiment_id(self.store, pid)
        return self.experiments.get(exp_id) if exp_id is not None else None

    def _write(
        self,
        ctx: _Ctx,
        action: str,
        reason: str,
        figures: dict[str, Any],
        *,
        key: str | None = None,
        experiment_id: int | None = None,
        event: str | None = None,
        actor: str | None = None,
    ) -> None:
        record = journal.write(
            self.store,
            ctx.prompt_id,
            action,
            reason,
            figures,
            actor=actor or self.actor,
            key=key,
            experiment_id=experiment_id,
        )
        ctx.steps.append(
            StepRecord(
                action=action,
                reason=reason,
                figures=figures,
                logged=record is not None,
                decision_id=record.id if record else None,
                experiment_id=experiment_id,
            )
        )
        if event is not None and record is not None:
            ctx.events.append(
                Event(event, ctx.name, action, reason, record.figures, record.id, experiment_id)
            )

    def _send(self, ctx: _Ctx) -> None:
        """Queue the prompt's events (its transactions have committed)."""
        if not ctx.events:
            return
        url = ctx.policy.webhook_url or self.settings.webhook_url
        if url is None:
            return
        secret = self._secret(ctx.policy)
        for event in ctx.events:
            self.notifier.send(url, secret, event, secret_env=ctx.policy.webhook_secret_env)
        ctx.events.clear()

    def _secret(self, policy: Policy) -> str | None:
        if policy.webhook_secret_env != "PROMPTEVOLVE_WEBHOOK_SECRET":
            return os.environ.get(policy.webhook_secret_env)
        return self.settings.webhook_secret.get_secret_value() if self.settings.webhook_secret else None
