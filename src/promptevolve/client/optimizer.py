"""``PromptOptimizer``: the SDK facade an application calls instead of a hard-coded prompt.

``run()`` = registry (cached plan) → routing (sticky arm) → template → provider → tracking (queued).
It never raises into the caller unless ``strict=True``: each step that fails moves down a chain of
fallbacks, and every fallback is counted (``stats()``) and recorded with its reason:

1. the routed variant (an experiment arm, or an active variant by share);
2. the prompt's **baseline**, if the routed variant failed to render or its model call failed;
3. the caller's ``fallback`` prompt, if the registry cannot be read (store down with nothing cached,
   unknown prompt) or the baseline failed too;
4. a result with ``status="error"`` and no text, if nothing could answer.

A failed attempt is itself recorded (``status=error`` on its variant and arm), so an experiment's error
rate sees the failures of its arms even when a fallback saved the call. Whatever fails while rendering
(the template, a variable's value) is a ``render_error`` of that attempt, never an exception.

The chain and what each step records are decided by one state machine without I/O (``client.call``);
``run`` performs its effects (render, model call) and queues its typed records (``tracking.records``) on
the recorder. ``AsyncPromptOptimizer`` drives the same machine with awaits (``client.aio``).

Records are made storable before they are queued (``core.storable``: a NUL in a model's output, a lone
surrogate in a variable, values JSON cannot hold), and what was changed is recorded with them
(``executions.repairs``): an execution id handed back always names a row the store can hold.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from promptevolve.client.call import (
    Attempt,
    Call,
    CallContext,
    CallModel,
    Finished,
    Render,
    Routes,
    Step,
    parse_json_output,
)
from promptevolve.client.results import (
    OptimizerStats,
    PromptHandle,
    RunResult,
    handle_for,
)
from promptevolve.client.telemetry import NO_TELEMETRY, Telemetry, telemetry_for
from promptevolve.core.errors import NotFoundError, StoreUnavailableError, TemplateError
from promptevolve.core.hashing import canonical_json
from promptevolve.core.ids import new_id
from promptevolve.core.protocols import Provider
from promptevolve.core.settings import Settings, load_settings
from promptevolve.core.types import ModelSettings
from promptevolve.providers.pricing import PriceTable
from promptevolve.providers.registry import create_provider
from promptevolve.providers.retry import RetryPolicy, with_retries
from promptevolve.registry.cache import StaleWhileRevalidateCache
from promptevolve.registry.service import Registry
from promptevolve.registry.serving import ServingPlan, load_plan, load_plans
from promptevolve.scoring.evaluators.minilm import MiniLMEncoder
from promptevolve.store.engine import Store
from promptevolve.store.migrate import open_store
from promptevolve.store.notices import listener_factory
from promptevolve.templates import DemoRetriever, ParsedTemplate, RenderResult, parse_template
from promptevolve.templates import render as render_template
from promptevolve.tracking.feedback import FeedbackIn, record_feedback
from promptevolve.tracking.recorder import DropReport, Recorder
from promptevolve.tracking.records import execution_record, unit_hash

__all__ = ["Attempt", "PromptOptimizer", "Template", "parse_json_output", "unit_hash"]

Template = str | Sequence[Mapping[str, Any]]


class PromptOptimizer:
    """Serve prompts from the registry with sticky routing, tracking and fallbacks.

    ``store``: an open ``Store`` (or give ``database_url`` / ``settings``). ``providers``: named
    providers to use instead of building them from the registry of providers (e.g. a
    ``ScriptedProvider`` in tests). ``strict=True`` re-raises the last error instead of answering
    ``status="error"`` (fallbacks still apply). ``on_drop`` is called (on the writer thread) with a
    ``DropReport`` whenever tracking rows are lost (``tracking.recorder``). ``telemetry``: where
    model-call spans go (``client.telemetry``); default from ``PROMPTEVOLVE_OTEL``, off unless set.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        settings: Settings | None = None,
        database_url: str | None = None,
        providers: Mapping[str, Provider] | None = None,
        default_provider: str | None = None,
        strict: bool = False,
        cache_ttl_s: float = 30.0,
        retry: RetryPolicy | None = None,
        prices: PriceTable | None = None,
        store_variables: bool = True,
        recorder: Recorder | None = None,
        rng: random.Random | None = None,
        on_drop: Callable[[DropReport], None] | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.settings = settings or load_settings(database_url=database_url)
        self.store = store if store is not None else _open(self.settings)
        self.strict = strict
        self.store_variables = store_variables
        self._default_provider = default_provider or self.settings.default_provider
        self._providers: dict[str, Provider] = dict(providers or {})
        # Per-call time limits come from the variant's settings (timeout_s); retries only add attempts.
        self._retry = retry or RetryPolicy(max_attempts=2, base_delay_s=0.2, deadline_s=None)
        self._prices = prices or PriceTable.default()
        self._rng = rng or random.Random()
        self._context = CallContext(
            self._prices, store_variables, self._rng, new_id, time.time, time.perf_counter
        )
        self.telemetry = telemetry or telemetry_for(self.settings.otel)
        self._lock = threading.Lock()
        self._stats = OptimizerStats()
        self._fallbacks: Counter[str] = Counter()
        self._parsed_fallbacks: dict[str, ParsedTemplate] = {}
        self._routes: dict[str, Routes] = {}
        self._demos = DemoRetriever(encoder=MiniLMEncoder)  # the MiniLM weights load on first use only
        self.cache: StaleWhileRevalidateCache[ServingPlan] = StaleWhileRevalidateCache(
            lambda name: load_plan(self.store, name),
            batch_loader=lambda names: load_plans(self.store, names),
            listener=listener_factory(self.store.engine),
            ttl_s=cache_ttl_s,
        )
        self.recorder = recorder or Recorder(self.store, on_drop=on_drop)
        self.registry = Registry(self.store, actor=self.settings.actor, on_change=self.cache.invalidate)

    # --- the public API ------------------------------------------------------------------------------

    def run(
        self,
        name: str,
        variables: Mapping[str, Any] | None = None,
        *,
        unit_id: str | None = None,
        fallback: Template | None = None,
        fallback_settings: ModelSettings | None = None,
        strict: bool | None = None,
    ) -> RunResult:
        """Render the routed variant of ``name``, call its model, record it, and return the answer."""
        call = self.begin(name, variables, unit_id, fallback, fallback_settings, strict)
        step: Step = call.start()
        telemetry = self.telemetry
        while True:
            if type(step) is Render:
                step = call.rendered(self.render(step.attempt, call.variables))
            elif type(step) is CallModel:
                settings = step.attempt.settings
                try:
                    if telemetry is NO_TELEMETRY:  # tracing off: not even an empty span
                        completion = self.provider(settings).complete(step.prompt, settings)
                    else:
                        with telemetry.model_call(name, step.attempt, self.provider_name(settings)) as span:
                            completion = self.provider(settings).complete(step.prompt, settings)
                            span.completed(completion)
                except Exception as exc:
                    step = call.failed(exc)
                else:
                    step = call.answered(completion)
            else:
                return self.finish(step)  # type: ignore[arg-type]

    def get_prompt(
        self,
        name: str,
        *,
        unit_id: str | None = None,
        fallback: Template | None = None,
        fallback_settings: ModelSettings | None = None,
    ) -> PromptHandle:
        """The routed prompt for apps that call the model themselves; record the call with ``track``."""
        try:
            routes = self._routes_of(self.cache.get(name).value)
        except Exception as exc:
            return self._fallback_handle(name, unit_id, exc, fallback, fallback_settings)
        ctx = self._context
        attempt, exposure = routes.route(unit_id, ctx.rng, ctx.new_id, ctx.wall)
        if exposure is not None:
            self.recorder.record(exposure)
        return handle_for(name, attempt, unit_id)

    def track(
        self,
        handle: PromptHandle,
        *,
        variables: Mapping[str, Any] | None = None,
        output: str | None = None,
        latency_ms: float | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        model: str | None = None,
        error: str | None = None,
    ) -> str:
        """Record a call the app made itself with a ``get_prompt`` handle; returns the execution id."""
        model = model or handle.settings.model
        status = "error" if error else ("fallback" if handle.is_fallback else "ok")
        cost = self._prices.cost_usd(model, prompt_tokens or 0, completion_tokens or 0)
        record = execution_record(
            new_id(),
            handle.prompt_id,
            handle.variant_id,
            handle.experiment_id,
            handle.arm,
            handle.unit_id,
            dict(variables or {}),
            output,
            model,
            latency_ms,
            prompt_tokens,
            completion_tokens,
            cost,
            status,
            handle.fallback_reason,
            None if not error else "external",  # error_class
            error,  # error_message
            "track",  # source
            time.time(),  # ts
            self.store_variables,
        )
        self.recorder.record(record)
        return record.id

    def feedback(
        self,
        execution_id: str,
        *,
        thumbs: bool | None = None,
        rating: int | None = None,
        score: float | None = None,
        correction: str | None = None,
        comment: str | None = None,
        source: str = "user",
        created_by: str | None = None,
    ) -> list[str]:
        """Attach feedback to an execution. Unlike ``run``, bad input raises (it is the caller's bug):
        ``NotFoundError`` for an unknown execution id, ``StoreUnavailableError`` when the store does not
        take writes now (down, read-only), ``ValidationError`` for bad values (a comment or
        correction holding a NUL or a lone surrogate included: refused, never stored altered)."""
        body = FeedbackIn.checked(
            execution_id=execution_id,
            thumbs=thumbs,
            rating=rating,
            score=score,
            correction=correction,
            comment=comment,
            source=source,
            created_by=created_by,
        )
        self.recorder.ensure_written(execution_id)
        return record_feedback(self.store, body)

    def flush(self, timeout_s: float | None = 10.0) -> bool:
        """Wait until every queued execution is written; False if the timeout passed first."""
        return self.recorder.flush(timeout_s)

    def close(self) -> None:
        self.recorder.close()
        self.cache.close()

    def __enter__(self) -> PromptOptimizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> OptimizerStats:
        with self._lock:
            snapshot = OptimizerStats(
                runs=self._stats.runs,
                ok=self._stats.ok,
                errors=self._stats.errors,
                fallbacks=dict(self._fallbacks),
            )
        snapshot.recorder = asdict(self.recorder.stats)
        snapshot.cache = asdict(self.cache.stats)
        return snapshot

    # --- the effects of a call, for its drivers (this class and client.aio) --------------------------

    def begin(
        self,
        name: str,
        variables: Mapping[str, Any] | None,
        unit_id: str | None,
        fallback: Template | None,
        fallback_settings: ModelSettings | None,
        strict: bool | None,
    ) -> Call:
        """A ``Call`` for ``run``: the plan read (from the cache; the store on a cold or invalidated
        entry) and the caller's fallback parsed. The one step of a call that may touch the database."""
        routes: Routes | None = None
        failure: Exception | None = None
        try:
            routes = self._routes_of(self.cache.get(name).value)
        except Exception as exc:
            failure = exc
        parsed = self._parse_fallback(fallback) if fallback is not None else None
        return Call(
            self._context,
            name,
            dict(variables or {}),
            unit_id,
            routes,
            failure,
            parsed,
            fallback_settings,
            self.strict if strict is None else strict,
        )

    def render(self, attempt: Attempt, variables: Mapping[str, Any]) -> RenderResult | Exception:
        """An attempt's prompt, or what rendering raised (never raises: the call decides)."""
        try:
            if attempt.retrieval:  # the variant picks its demos per call (settings["retrieval"])
                return self._demos.render(attempt.template, attempt.settings, variables)
            return render_template(attempt.template, variables)
        except Exception as exc:
            return exc

    def provider_name(self, settings: ModelSettings) -> str:
        return settings.provider or self._default_provider

    def provider(self, settings: ModelSettings) -> Provider:
        name = settings.provider or self._default_provider
        provider = self._providers.get(name)
        if provider is None:  # the first call to this provider: made once
            with self._lock:
                provider = self._providers.get(name)
                if provider is None:
                    provider = with_retries(create_provider(name), self._retry)
                    self._providers[name] = provider
        return provider

    def finish(self, done: Finished) -> RunResult:
        """Queue a finished call's records, count it, and hand back its result (or raise, strict)."""
        record = self.recorder.record
        for r in done.records:
            record(r)
        status = done.result.status
        with self._lock:
            stats = self._stats
            stats.runs += 1
            if status == "ok":
                stats.ok += 1
            elif status == "error":
                stats.errors += 1
            if done.counted is not None:
                self._fallbacks[done.counted] += 1
        if done.error is not None:
            raise done.error
        return done.result

    # --- internals -----------------------------------------------------------------------------------

    def _routes_of(self, plan: ServingPlan) -> Routes:
        """The plan's ``Routes``, made on the plan's first call (a renewed plan is a new object)."""
        routes = self._routes.get(plan.name)
        if routes is None or routes.plan is not plan:
            routes = self._routes[plan.name] = Routes(plan)
        return routes

    def _fallback_handle(
        self,
        name: str,
        unit_id: str | None,
        failure: Exception,
        fallback: Template | None,
        fallback_settings: ModelSettings | None,
    ) -> PromptHandle:
        """``get_prompt`` when the plan cannot be read: the caller's fallback prompt, or the error."""
        parsed = self._parse_fallback(fallback) if fallback is not None else None
        if parsed is None:
            if self.strict:
                raise failure
            raise NotFoundError(
                f"no prompt to serve for {name!r} ({failure}) and no fallback given"
            ) from failure
        reason = "unknown_prompt" if isinstance(failure, NotFoundError) else "registry_unavailable"
        self._count_fallback(reason)
        attempt = Attempt(parsed, fallback_settings or ModelSettings(), None, None, None, None, reason)
        return handle_for(name, attempt, unit_id)

    def _parse_fallback(self, fallback: Template) -> ParsedTemplate | None:
        key = fallback if isinstance(fallback, str) else canonical_json(list(fallback))
        parsed = self._parsed_fallbacks.get(key)
        if parsed is None:
            try:
                parsed = parse_template(fallback if isinstance(fallback, str) else list(fallback))
            except TemplateError:
                self._count_fallback("fallback_template_invalid")
                return None
            self._parsed_fallbacks[key] = parsed
        return parsed

    def _count_fallback(self, reason: str) -> None:
        with self._lock:
            self._fallbacks[reason] += 1


def _open(settings: Settings) -> Store:
    """Open the store, but never fail because it is down: the SDK must start and serve fallbacks."""
    try:
        return open_store(settings)
    except StoreUnavailableError:
        return Store.from_settings(settings)
