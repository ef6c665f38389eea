"""One call of ``run()`` as a state machine without I/O: what to try, in which order, and what to record.

``PromptOptimizer.run`` and ``AsyncPromptOptimizer.run`` are two drivers of this one machine; they differ
only in how they perform its effects (the sync one calls, the async one awaits, and moves a cold plan
read or a Jinja render off the event loop). The machine decides everything else:

- the **fallback chain**: the routed variant (an experiment arm, or an active variant by share), then the
  prompt's baseline if the routed variant failed, then the caller's ``fallback`` prompt if the registry
  could not be read or the baseline failed too, then a result with ``status="error"``;
- the **records** (``tracking.records``): an ``ExposureRecord`` when an experiment routed the call, one
  ``ExecutionRecord`` per attempt (a failed one with ``status="error"`` on its own variant and arm, so an
  experiment's error rate sees its arms' failures even when a fallback saved the call), and a
  ``format_valid`` ``ScoreRecord`` for a JSON answer;
- the **result** (``RunResult``) and, with ``strict``, the exception to raise instead.

Driving it::

    step = call.start()                      # Render(attempt) or Finished
    Render(attempt)   → render attempt.template with call.variables → call.rendered(result or exception)
    CallModel(attempt, prompt) → the provider's answer → call.answered(completion) or call.failed(exc)
    Finished(result, error, records, counted) → record the records, count, return or raise

The ids come from the serving plan the call was routed with (``Routes``), never from whatever a cache
holds when the record is made. The machine reads the clocks, ids and random numbers it is given
(``CallContext``), so a test drives it step by step with fixed ones (``tests/client/test_call.py``).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from promptevolve.client.results import RunResult, built_run_result
from promptevolve.core.errors import NotFoundError, ProviderError, TemplateError
from promptevolve.core.types import Completion, ModelSettings, RenderedPrompt
from promptevolve.providers.pricing import PriceTable
from promptevolve.registry.serving import ServingPlan, ServingVariant
from promptevolve.routing.buckets import Router, router
from promptevolve.templates import ParsedTemplate, RenderResult
from promptevolve.templates.demos import SETTING as RETRIEVAL
from promptevolve.tracking.records import (
    ExecutionRecord,
    ExposureRecord,
    Record,
    ScoreRecord,
    execution_record,
    unit_hash,
)

__all__ = [
    "Attempt",
    "Call",
    "CallContext",
    "CallModel",
    "Finished",
    "Render",
    "Routes",
    "Step",
    "parse_json_output",
]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One candidate in the fallback chain, with the ids of the plan it came from."""

    template: ParsedTemplate
    settings: ModelSettings
    version: str | None
    variant_id: int | None
    experiment_id: int | None
    arm: str | None
    fallback_reason: str | None  # None: the routed variant itself
    prompt_id: int | None = None
    #: Whether the variant picks demos per call (``settings["retrieval"]``), decided once, not per call.
    retrieval: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "retrieval", RETRIEVAL in (self.settings.model_extra or {}))


def _attempt(
    plan: ServingPlan, v: ServingVariant, exp_id: int | None, arm: str | None, reason: str | None
) -> Attempt:
    return Attempt(v.template, v.settings, v.version, v.id, exp_id, arm, reason, plan.prompt_id)


class Routes:
    """How one serving plan routes a call. A plan never changes, so its attempts and its router are made
    once, when the plan is first used, instead of once per call; a new plan gets new ``Routes``."""

    __slots__ = ("_by_arm", "_experiment_id", "_router", "_single", "baseline", "plan")

    def __init__(self, plan: ServingPlan) -> None:
        self.plan = plan
        self.baseline = _attempt(plan, plan.baseline, None, None, "variant_failed")
        exp = plan.experiment
        self._router: Router | None = None
        self._single: Attempt | None = None
        self._experiment_id = exp.id if exp is not None else None
        if exp is not None:
            self._by_arm = {a.arm: _attempt(plan, a.variant, exp.id, a.arm, None) for a in exp.arms}
            self._router = router(exp.seed, exp.routing_arms())
            return
        arms = plan.routing_arms()
        self._by_arm = {
            version: _attempt(plan, plan.variant(version), None, None, None) for version, _ in arms
        }
        if len(arms) == 1:
            self._single = self._by_arm[arms[0][0]]
        else:
            self._router = router(f"prompt:{plan.name}", arms)

    def route(
        self, unit_id: str | None, rng: random.Random, new_id: Callable[[], str], now: Callable[[], float]
    ) -> tuple[Attempt, ExposureRecord | None]:
        """The unit's attempt (sticky: ``routing.buckets``), and its exposure when an experiment routed it."""
        single = self._single
        if single is not None:
            return single, None
        assert self._router is not None  # set whenever there is no single attempt
        attempt = self._by_arm[self._router.assign(unit_id, rng)]
        if self._experiment_id is None:
            return attempt, None
        exposure = ExposureRecord(
            new_id(), self._experiment_id, attempt.arm or "", attempt.variant_id, unit_hash(unit_id), now()
        )
        return attempt, exposure


@dataclass(frozen=True, slots=True)
class CallContext:
    """What every call of one optimizer shares: the price table, whether variables are stored, and the
    sources of ids, time and randomness (fixed ones in tests)."""

    prices: PriceTable
    store_variables: bool
    rng: random.Random
    new_id: Callable[[], str]
    wall: Callable[[], float]  # seconds since the epoch: record timestamps
    timer: Callable[[], float]  # a monotonic clock in seconds: latencies


# The steps are plain slotted classes: made several times per call, and a NamedTuple costs twice as much.


@dataclass(slots=True)
class Render:
    """Effect: render ``attempt.template`` with the call's variables (a plain template on the spot, one
    with logic off an event loop), then ``Call.rendered`` with the ``RenderResult`` or the exception."""

    attempt: Attempt


@dataclass(slots=True)
class CallModel:
    """Effect: call ``attempt``'s model with ``prompt``, then ``Call.answered`` or ``Call.failed``."""

    attempt: Attempt
    prompt: RenderedPrompt


@dataclass(slots=True)
class Finished:
    """The end: ``records`` to queue (in order), then ``error`` to raise (strict) or ``result`` to return.
    ``counted``: the fallback reason to count in the optimizer's stats (None: the routed variant answered)."""

    result: RunResult
    error: Exception | None
    records: list[Record]
    counted: str | None


Step = Render | CallModel | Finished


class Call:
    """The state of one ``run()`` call. Made with the plan read for ``name`` (its ``Routes``), or the
    exception reading it raised; ``fallback``: the caller's parsed fallback prompt, if any."""

    __slots__ = (
        "_attempts",
        "_ctx",
        "_current",
        "_failure",
        "_next",
        "_started",
        "_strict",
        "_unexpected",
        "name",
        "records",
        "unit_id",
        "variables",
    )

    _current: Attempt  # set by each Render: the attempt under way

    def __init__(
        self,
        ctx: CallContext,
        name: str,
        variables: dict[str, Any],
        unit_id: str | None,
        routes: Routes | None,
        failure: Exception | None,
        fallback: ParsedTemplate | None,
        fallback_settings: ModelSettings | None,
        strict: bool,
    ) -> None:
        self._ctx = ctx
        self._started = ctx.timer()
        self.name = name
        self.variables = variables
        self.unit_id = unit_id
        self._strict = strict
        self._failure = failure
        self._next = 0
        self._unexpected: Sequence[str] = ()
        self.records: list[Record] = []
        attempts: list[Attempt] = []
        if routes is not None:
            routed, exposure = routes.route(unit_id, ctx.rng, ctx.new_id, ctx.wall)
            if exposure is not None:
                self.records.append(exposure)
            attempts.append(routed)
            if routed.variant_id != routes.baseline.variant_id:
                attempts.append(routes.baseline)
        if fallback is not None:
            reason = (
                "baseline_failed"
                if routes is not None
                else ("unknown_prompt" if isinstance(failure, NotFoundError) else "registry_unavailable")
            )
            prompt_id = routes.plan.prompt_id if routes is not None else None
            settings = fallback_settings or ModelSettings()
            attempts.append(Attempt(fallback, settings, None, None, None, None, reason, prompt_id))
        self._attempts = attempts

    @property
    def attempt(self) -> Attempt:
        """The attempt under way (once ``start`` has returned a ``Render``)."""
        return self._current

    def start(self) -> Render | Finished:
        return self._next_attempt()

    def rendered(self, outcome: RenderResult | Exception) -> CallModel | Render | Finished:
        """The current attempt's render: its result, or what it raised (any exception is the template's)."""
        if isinstance(outcome, Exception):
            if not isinstance(outcome, TemplateError):
                outcome = TemplateError(f"template rendering failed: {type(outcome).__name__}")
            return self.failed(outcome)
        self._unexpected = outcome.unexpected_variables
        return CallModel(self._current, outcome.prompt)

    def failed(self, exc: Exception) -> Render | Finished:
        """The current attempt failed (render or model call): record it on its variant, try the next."""
        attempt = self._current
        kind = (
            "render_error"
            if isinstance(exc, TemplateError)
            else ("provider_error" if isinstance(exc, ProviderError) else "internal_error")
        )
        ctx = self._ctx
        self.records.append(
            self._execution(
                attempt,
                None,  # output
                attempt.settings.model,
                (ctx.timer() - self._started) * 1000.0,  # latency_ms
                None,  # prompt_tokens
                None,  # completion_tokens
                None,  # cost_usd
                "error",  # status
                kind,  # fallback_reason: why this attempt did not answer
                f"{type(exc).__module__}.{type(exc).__name__}",  # error_class
                str(exc)[:2000],  # error_message
            )
        )
        self._failure = exc
        return self._next_attempt()

    def answered(self, completion: Completion) -> Finished:
        """The current attempt's model answered: record it (and its JSON validity), and the result."""
        attempt, ctx = self._current, self._ctx
        expects_json = attempt.settings.response_format == "json"
        parsed, parse_error = parse_json_output(completion.text) if expects_json else (None, None)
        reason = attempt.fallback_reason
        status = "ok" if reason is None else "fallback"
        cost = ctx.prices.cost_usd(completion.model, completion.prompt_tokens, completion.completion_tokens)
        execution = self._execution(
            attempt,
            completion.text,  # output
            completion.model,
            completion.latency_ms,
            completion.prompt_tokens,
            completion.completion_tokens,
            cost,
            status,
            reason,  # fallback_reason
            None,  # error_class
            None,  # error_message
        )
        self.records.append(execution)
        if expects_json:
            score = 0.0 if parse_error else 1.0
            self.records.append(
                ScoreRecord(ctx.new_id(), execution.id, "format_valid", score, parse_error, ctx.wall())
            )
        # Every value is built here, so validating it again would only cost time (model_construct's own
        # per-field loop was a fifth of run()'s time: built_run_result skips it too).
        result = built_run_result(
            status=status,
            text=completion.text,
            parsed=parsed,
            parse_error=parse_error,
            prompt=self.name,
            version=attempt.version,
            variant_id=attempt.variant_id,
            experiment_id=attempt.experiment_id,
            arm=attempt.arm,
            execution_id=execution.id,
            model=completion.model,
            latency_ms=(ctx.timer() - self._started) * 1000.0,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            cost_usd=cost,
            is_fallback=reason is not None,
            fallback_reason=reason,
            error=None,
            unexpected_variables=list(self._unexpected),
        )
        return Finished(result, None, self.records, reason)

    def _execution(
        self,
        attempt: Attempt,
        output: str | None,
        model: str | None,
        latency_ms: float | None,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        cost_usd: float | None,
        status: str,
        fallback_reason: str | None,
        error_class: str | None,
        error_message: str | None,
    ) -> ExecutionRecord:
        """The execution record of ``attempt`` (its plan's ids, this call's unit and variables)."""
        ctx = self._ctx
        return execution_record(
            ctx.new_id(),
            attempt.prompt_id,
            attempt.variant_id,
            attempt.experiment_id,
            attempt.arm,
            self.unit_id,
            self.variables,
            output,
            model,
            latency_ms,
            prompt_tokens,
            completion_tokens,
            cost_usd,
            status,
            fallback_reason,
            error_class,
            error_message,
            "run",  # source
            ctx.wall(),  # ts
            ctx.store_variables,
        )

    def _next_attempt(self) -> Render | Finished:
        if self._next < len(self._attempts):
            attempt = self._current = self._attempts[self._next]
            self._next += 1
            return Render(attempt)
        return self._gave_up()

    def _gave_up(self) -> Finished:
        failure = self._failure
        result = RunResult(
            status="error",
            text=None,
            prompt=self.name,
            version=None,
            is_fallback=True,
            fallback_reason="no_answer",
            error=f"{type(failure).__name__}: {failure}" if failure else "no prompt to serve",
            latency_ms=(self._ctx.timer() - self._started) * 1000.0,
        )
        error = failure if self._strict and failure is not None else None
        return Finished(result, error, self.records, "no_answer")


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


def parse_json_output(text: str) -> tuple[Any | None, str | None]:
    """Parse a model's JSON answer, tolerating code fences and chatter around one object."""
    cleaned = _FENCE.sub("", text.strip())
    try:
        return json.loads(cleaned), None
    except json.JSONDecodeError:
        pass
    start, end = cleaned.find("{"), cleaned.rfind("}")
    if start != -1 and end > start:
        try:
            return json.loads(cleaned[start : end + 1]), None
        except json.JSONDecodeError as exc:
            return None, f"invalid JSON: {exc.msg} at character {exc.pos}"
    return None, "no JSON object in the output"
