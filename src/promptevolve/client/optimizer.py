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

Records are made storable before they are queued (``core.storable``: a NUL in a model's output, a lone
surrogate in a variable, values JSON cannot hold), and what was changed is recorded with them
(``executions.repairs``): an execution id handed back always names a row the store can hold.

``AsyncPromptOptimizer`` shares everything but the awaits (``client.aio``).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from promptevolve.client.results import (
    OptimizerStats,
    PromptHandle,
    RunResult,
    built_handle,
    built_run_result,
)
from promptevolve.client.telemetry import Telemetry, telemetry_for
from promptevolve.core.errors import (
    NotFoundError,
    ProviderError,
    StoreUnavailableError,
    TemplateError,
)
from promptevolve.core.hashing import canonical_json
from promptevolve.core.ids import new_id
from promptevolve.core.protocols import Provider
from promptevolve.core.settings import Settings, load_settings
from promptevolve.core.storable import Repairs
from promptevolve.core.types import Completion, ModelSettings, RenderedPrompt
from promptevolve.providers.pricing import PriceTable
from promptevolve.providers.registry import create_provider
from promptevolve.providers.retry import RetryPolicy, with_retries
from promptevolve.registry.cache import StaleWhileRevalidateCache
from promptevolve.registry.service import Registry
from promptevolve.registry.serving import ServingPlan, ServingVariant, load_plan, load_plans
from promptevolve.routing.buckets import assign, router
from promptevolve.scoring.evaluators.minilm import MiniLMEncoder
from promptevolve.store.engine import Store
from promptevolve.store.migrate import open_store
from promptevolve.store.notices import listener_factory
from promptevolve.store.writes import JsonText
from promptevolve.templates import DemoRetriever, ParsedTemplate, parse_template
from promptevolve.tracking.feedback import FeedbackIn, record_feedback
from promptevolve.tracking.recorder import DropReport, Recorder

__all__ = ["Attempt", "PromptOptimizer", "Template", "parse_json_output", "unit_hash"]

Template = str | Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One candidate in the fallback chain."""

    template: ParsedTemplate
    settings: ModelSettings
    version: str | None
    variant_id: int | None
    experiment_id: int | None
    arm: str | None
    fallback_reason: str | None  # None: the routed variant itself


def unit_hash(unit_id: str | None) -> str | None:
    """Units are stored hashed: analysis needs identity, not the raw user or lead id."""
    if unit_id is None:
        return None
    # surrogatepass: the same bytes as UTF-8 for every valid id, and no crash on a broken one.
    return hashlib.blake2b(str(unit_id).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


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
        self.telemetry = telemetry or telemetry_for(self.settings.otel)
        self._lock = threading.Lock()
        self._stats = OptimizerStats()
        self._fallbacks: Counter[str] = Counter()
        self._parsed_fallbacks: dict[str, ParsedTemplate] = {}
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
        started = time.perf_counter()
        variables = dict(variables or {})
        attempts, failure = self._attempts(name, unit_id, fallback, fallback_settings)
        for attempt in attempts:
            outcome = self._prepare(attempt, variables)
            if isinstance(outcome, Exception):
                failure = self._failed(name, attempt, variables, unit_id, outcome, started)
                continue
            prompt, unexpected = outcome
            try:
                with self.telemetry.model_call(name, attempt, self._provider_name(attempt.settings)) as span:
                    completion = self._provider(attempt.settings).complete(prompt, attempt.settings)
                    span.completed(completion)
            except Exception as exc:
                failure = self._failed(name, attempt, variables, unit_id, exc, started)
                continue
            return self._succeeded(name, attempt, variables, unit_id, completion, unexpected, started)
        return self._gave_up(name, variables, failure, strict, started)

    def get_prompt(
        self,
        name: str,
        *,
        unit_id: str | None = None,
        fallback: Template | None = None,
        fallback_settings: ModelSettings | None = None,
    ) -> PromptHandle:
        """The routed prompt for apps that call the model themselves; record the call with ``track``."""
        attempts, failure = self._attempts(name, unit_id, fallback, fallback_settings, with_baseline=False)
        if not attempts:
            if self.strict and failure is not None:
                raise failure
            raise NotFoundError(
                f"no prompt to serve for {name!r} ({failure}) and no fallback given"
            ) from failure
        first = attempts[0]
        if first.fallback_reason is not None:
            self._count_fallback(first.fallback_reason)
        return built_handle(
            prompt=name,
            version=first.version,
            variant_id=first.variant_id,
            template=first.template,
            settings=first.settings,
            experiment_id=first.experiment_id,
            arm=first.arm,
            unit_id=unit_id,
            is_fallback=first.fallback_reason is not None,
            fallback_reason=first.fallback_reason,
        )

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
        return self._record(
            handle.prompt,
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
            None if not error else "external",
            error,
            source="track",
        )

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

    # --- choosing what to try ------------------------------------------------------------------------

    def _attempts(
        self,
        name: str,
        unit_id: str | None,
        fallback: Template | None,
        fallback_settings: ModelSettings | None,
        *,
        with_baseline: bool = True,
    ) -> tuple[list[Attempt], Exception | None]:
        """The fallback chain; ``with_baseline=False`` leaves out the baseline's attempt (``get_prompt``
        hands out the first attempt only, so building the baseline's was wasted work on every call)."""
        attempts: list[Attempt] = []
        failure: Exception | None = None
        try:
            plan = self.cache.get(name).value
        except NotFoundError as exc:
            failure, reason = exc, "unknown_prompt"
        except Exception as exc:
            failure, reason = exc, "registry_unavailable"
        else:
            attempts.append(self._route(plan, unit_id))
            if with_baseline and attempts[0].variant_id != plan.baseline.id:
                attempts.append(self._variant_attempt(plan.baseline, None, None, "variant_failed"))
            reason = "baseline_failed"
        if fallback is not None:
            parsed = self._parse_fallback(fallback)
            if parsed is not None:
                attempts.append(
                    Attempt(parsed, fallback_settings or ModelSettings(), None, None, None, None, reason)
                )
        return attempts, failure

    def _route(self, plan: ServingPlan, unit_id: str | None) -> Attempt:
        exp = plan.experiment
        if exp is not None:
            arm = assign(exp.seed, exp.routing_arms(), unit_id, self._rng)
            chosen = exp.arm(arm)
            self.recorder.enqueue(
                "exposures",
                {
                    "id": new_id(),
                    "experiment_id": exp.id,
                    "arm": arm,
                    "variant_id": chosen.variant.id,
                    "unit_hash": unit_hash(unit_id),
                    "ts": time.time(),
                },
            )
            return self._variant_attempt(chosen.variant, exp.id, arm, None)
        arms = plan.routing_arms()
        if len(arms) == 1:
            version = arms[0][0]
        else:  # buckets.assign without its wrapper (arms is already a tuple)
            version = router(f"prompt:{plan.name}", arms).assign(unit_id, self._rng)
        return self._variant_attempt(plan.variant(version), None, None, None)

    @staticmethod
    def _variant_attempt(
        v: ServingVariant, exp_id: int | None, arm: str | None, reason: str | None
    ) -> Attempt:
        return Attempt(v.template, v.settings, v.version, v.id, exp_id, arm, reason)

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

    # --- doing and recording -------------------------------------------------------------------------

    def _prepare(
        self, attempt: Attempt, variables: Mapping[str, Any]
    ) -> tuple[RenderedPrompt, list[str]] | Exception:
        try:
            # Plain render unless the variant picks its demos per call (settings["retrieval"]).
            result = self._demos.render(attempt.template, attempt.settings, variables)
        except TemplateError as exc:
            return exc
        except Exception as exc:  # render translates everything; this keeps run() from raising regardless
            return TemplateError(f"template rendering failed: {type(exc).__name__}")
        return result.prompt, list(result.unexpected_variables)

    def _provider_name(self, settings: ModelSettings) -> str:
        return settings.provider or self._default_provider

    def _provider(self, settings: ModelSettings) -> Provider:
        name = self._provider_name(settings)
        provider = self._providers.get(name)
        if provider is None:
            with self._lock:
                provider = self._providers.get(name)
                if provider is None:
                    provider = with_retries(create_provider(name), self._retry)
                    self._providers[name] = provider
        return provider

    def _succeeded(
        self,
        name: str,
        attempt: Attempt,
        variables: dict[str, Any],
        unit_id: str | None,
        completion: Completion,
        unexpected: list[str],
        started: float,
    ) -> RunResult:
        parsed, parse_error = (None, None)
        if attempt.settings.response_format == "json":
            parsed, parse_error = parse_json_output(completion.text)
        status = "ok" if attempt.fallback_reason is None else "fallback"
        cost = self._prices.cost_usd(completion.model, completion.prompt_tokens, completion.completion_tokens)
        execution_id = self._record(
            name,
            attempt.variant_id,
            attempt.experiment_id,
            attempt.arm,
            unit_id,
            variables,
            completion.text,
            completion.model,
            completion.latency_ms,
            completion.prompt_tokens,
            completion.completion_tokens,
            cost,
            status,
            attempt.fallback_reason,
            None,
            None,
        )
        if attempt.settings.response_format == "json":
            self.recorder.enqueue(
                "scores",
                {
                    "id": new_id(),
                    "execution_id": execution_id,
                    "metric": "format_valid",
                    "value": 0.0 if parse_error else 1.0,
                    "detail": parse_error,
                    "ts": time.time(),
                },
            )
        with self._lock:
            self._stats.runs += 1
            if status == "ok":
                self._stats.ok += 1
        if attempt.fallback_reason is not None:
            self._count_fallback(attempt.fallback_reason)
        # Every value is built here, so validating it again would only cost time (model_construct's own
        # per-field loop was a fifth of run()'s time: built_run_result skips it too).
        return built_run_result(
            status=status,
            text=completion.text,
            parsed=parsed,
            parse_error=parse_error,
            prompt=name,
            version=attempt.version,
            variant_id=attempt.variant_id,
            experiment_id=attempt.experiment_id,
            arm=attempt.arm,
            execution_id=execution_id,
            model=completion.model,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            cost_usd=cost,
            is_fallback=attempt.fallback_reason is not None,
            fallback_reason=attempt.fallback_reason,
            error=None,
            unexpected_variables=unexpected,
        )

    def _failed(
        self,
        name: str,
        attempt: Attempt,
        variables: dict[str, Any],
        unit_id: str | None,
        exc: Exception,
        started: float,
    ) -> Exception:
        kind = (
            "render_error"
            if isinstance(exc, TemplateError)
            else ("provider_error" if isinstance(exc, ProviderError) else "internal_error")
        )
        self._record(
            name,
            attempt.variant_id,
            attempt.experiment_id,
            attempt.arm,
            unit_id,
            variables,
            None,
            attempt.settings.model,
            (time.perf_counter() - started) * 1000.0,
            None,
            None,
            None,
            "error",
            kind,
            f"{type(exc).__module__}.{type(exc).__name__}",
            str(exc)[:2000],
        )
        return exc

    def _gave_up(
        self,
        name: str,
        variables: dict[str, Any],
        failure: Exception | None,
        strict: bool | None,
        started: float,
    ) -> RunResult:
        with self._lock:
            self._stats.runs += 1
            self._stats.errors += 1
        self._count_fallback("no_answer")
        if (self.strict if strict is None else strict) and failure is not None:
            raise failure
        return RunResult(
            status="error",
            text=None,
            prompt=name,
            version=None,
            is_fallback=True,
            fallback_reason="no_answer",
            error=f"{type(failure).__name__}: {failure}" if failure else "no prompt to serve",
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )

    def _record(
        self,
        name: str,
        variant_id: int | None,
        experiment_id: int | None,
        arm: str | None,
        unit_id: str | None,
        variables: dict[str, Any],
        output: str | None,
        model: str | None,
        latency_ms: float | None,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        cost: float | None,
        status: str,
        fallback_reason: str | None,
        error_class: str | None,
        error_message: str | None,
        *,
        source: str = "run",
    ) -> str:
        execution_id = new_id()
        plan = self.cache.peek(name)
        repairs = Repairs()
        variables_json = repairs.json("variables", variables)[1]
        output = repairs.text("output", output)
        error_message = repairs.text("error_message", error_message)
        model = repairs.text("model", model)
        self.recorder.enqueue(
            "executions",
            {
                "id": execution_id,
                "prompt_id": plan.prompt_id if plan else None,
                "variant_id": variant_id,
                "experiment_id": experiment_id,
                "arm": arm,
                "unit_hash": unit_hash(unit_id),
                "variables_hash": hashlib.sha256(variables_json.encode()).hexdigest(),
                # The canonical text just hashed (sorted keys): the writer stores it without encoding again.
                "variables": JsonText(variables_json) if self.store_variables else None,
                "output": output,
                "model": model,
                "latency_ms": latency_ms,
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "cost_usd": cost,
                "status": status,
                "fallback_reason": fallback_reason,
                "error_class": error_class,
                "error_message": error_message,
                "source": source,
                "ts": time.time(),
                "repairs": repairs.summary(),
            },
        )
        return execution_id

    def _count_fallback(self, reason: str) -> None:
        with self._lock:
            self._fallbacks[reason] += 1


def _open(settings: Settings) -> Store:
    """Open the store, but never fail because it is down: the SDK must start and serve fallbacks."""
    try:
        return open_store(settings)
    except StoreUnavailableError:
        return Store.from_settings(settings)
