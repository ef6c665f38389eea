"""The call state machine (``client.call``), driven step by step with no store, no provider, no clock:
plans built in memory, fixed ids and times. What it decides here is what both SDK drivers do."""

from __future__ import annotations

import itertools
import random

import pytest

from promptevolve.client.call import Call, CallContext, CallModel, Finished, Render, Routes
from promptevolve.core.errors import NotFoundError, ProviderError, StoreUnavailableError, TemplateError
from promptevolve.core.types import Completion, ModelSettings, VariantKind
from promptevolve.providers.pricing import PriceTable
from promptevolve.registry.serving import ServingArm, ServingExperiment, ServingPlan, ServingVariant
from promptevolve.templates import parse_template, render
from promptevolve.tracking.records import ExecutionRecord, ExposureRecord, ScoreRecord, unit_hash

PROMPT_ID = 41


def _variant(
    vid: int, version: str, text: str, kind: VariantKind = VariantKind.AB_TEST, **settings
) -> ServingVariant:
    return ServingVariant(vid, "greet", version, kind, parse_template(text), ModelSettings(**settings))


BASELINE = _variant(1, "1.0.0", "Hello {{ who }}", VariantKind.BASELINE)
CHALLENGER = _variant(2, "1.1.0", "Hi {{ who }}!")


def _plan(*, experiment: bool = False, split: bool = True) -> ServingPlan:
    exp = None
    if experiment:
        arms = (ServingArm("a", BASELINE, 5_000, True), ServingArm("b", CHALLENGER, 5_000, False))
        exp = ServingExperiment(id=7, seed="seed-7", mode="fixed", arms=arms)
    active = ((BASELINE, 5_000), (CHALLENGER, 5_000)) if split else ((BASELINE, 10_000),)
    return ServingPlan(PROMPT_ID, "greet", {}, active, BASELINE, exp)


def _context(store_variables: bool = True) -> CallContext:
    ids = (f"id-{i}" for i in itertools.count())
    ticks = itertools.count()
    return CallContext(
        PriceTable.default(),
        store_variables,
        random.Random(1),
        lambda: next(ids),
        lambda: 1_700_000_000.0,
        lambda: next(ticks) / 1000.0,  # each reading 1 ms after the last
    )


def _call(routes: Routes | None, *, failure=None, fallback=None, strict=False, unit="u-1", **kw) -> Call:
    ctx = kw.pop("ctx", None) or _context()
    return Call(ctx, "greet", {"who": "Ada"}, unit, routes, failure, fallback, None, strict)


def _unit_on(routes: Routes, version: str) -> str:
    """A unit id the plan routes to ``version``."""
    ctx = _context()
    for i in range(1_000):
        attempt, _ = routes.route(f"u-{i}", ctx.rng, ctx.new_id, ctx.wall)
        if attempt.version == version:
            return f"u-{i}"
    raise AssertionError(f"no unit routed to {version}")


def _answer(text: str = "hi Ada", model: str = "m") -> Completion:
    return Completion(text=text, prompt_tokens=3, completion_tokens=2, latency_ms=5.0, model=model)


def _render_step(call: Call, step) -> CallModel | Render | Finished:
    assert isinstance(step, Render)
    return call.rendered(render(step.attempt.template, call.variables))


def test_the_routed_variant_answers_and_its_execution_carries_the_plans_ids():
    routes = Routes(_plan())
    call = _call(routes, unit=_unit_on(routes, "1.1.0"))
    step = _render_step(call, call.start())
    assert isinstance(step, CallModel) and step.prompt.as_text() == "Hi Ada!"
    done = call.answered(_answer())
    assert isinstance(done, Finished) and done.error is None and done.counted is None
    assert (done.result.status, done.result.version, done.result.text) == ("ok", "1.1.0", "hi Ada")
    [execution] = done.records
    assert isinstance(execution, ExecutionRecord)
    assert (execution.prompt_id, execution.variant_id, execution.status, execution.source) == (
        PROMPT_ID,
        2,
        "ok",
        "run",
    )
    assert execution.id == done.result.execution_id and execution.unit_hash == unit_hash(call.unit_id)
    assert execution.variables == '{"who":"Ada"}' and execution.repairs is None


def test_a_failed_model_call_is_recorded_on_its_variant_then_the_baseline_answers_as_a_fallback():
    routes = Routes(_plan())
    call = _call(routes, unit=_unit_on(routes, "1.1.0"))
    _render_step(call, call.start())
    step = call.failed(ProviderError("model down"))
    assert isinstance(step, Render) and step.attempt.version == "1.0.0"
    assert step.attempt.fallback_reason == "variant_failed"
    _render_step(call, step)
    done = call.answered(_answer())
    failed, answered = done.records
    assert (failed.variant_id, failed.status, failed.fallback_reason) == (2, "error", "provider_error")
    assert failed.error_class == "promptevolve.core.errors.ProviderError" and failed.output is None
    assert (answered.variant_id, answered.status, answered.fallback_reason) == (
        1,
        "fallback",
        "variant_failed",
    )
    assert done.result.status == "fallback" and done.result.is_fallback and done.counted == "variant_failed"
    assert failed.prompt_id == answered.prompt_id == PROMPT_ID


def test_a_render_failure_of_any_kind_is_a_render_error_of_that_attempt_never_an_exception():
    routes = Routes(_plan(split=False))
    call = _call(routes)
    assert isinstance(call.start(), Render)
    done = call.rendered(ZeroDivisionError("inside the template"))
    assert isinstance(done, Finished) and done.error is None
    [failed] = done.records
    assert (failed.status, failed.fallback_reason) == ("error", "render_error")
    assert failed.error_class == "promptevolve.core.errors.TemplateError"
    assert done.result.status == "error" and done.result.fallback_reason == "no_answer"


def test_the_routed_baseline_is_not_tried_twice():
    routes = Routes(_plan(split=False))
    call = _call(routes)
    _render_step(call, call.start())
    done = call.failed(ProviderError("down"))
    assert isinstance(done, Finished) and len(done.records) == 1 and done.counted == "no_answer"


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (NotFoundError("no prompt 'greet'"), "unknown_prompt"),
        (StoreUnavailableError("down"), "registry_unavailable"),
    ],
)
def test_without_a_plan_the_callers_fallback_answers_and_says_why(failure, reason):
    call = _call(None, failure=failure, fallback=parse_template("Hey {{ who }}"))
    step = call.start()
    assert isinstance(step, Render) and step.attempt.fallback_reason == reason
    _render_step(call, step)
    done = call.answered(_answer())
    [execution] = done.records
    assert (execution.prompt_id, execution.variant_id, execution.status) == (None, None, "fallback")
    assert (done.result.version, done.result.fallback_reason, done.counted) == (None, reason, reason)


def test_the_callers_fallback_after_the_baseline_failed_keeps_the_prompts_id():
    routes = Routes(_plan(split=False))
    call = _call(routes, fallback=parse_template("Hey {{ who }}"))
    _render_step(call, call.start())
    step = call.failed(ProviderError("down"))
    assert isinstance(step, Render) and step.attempt.fallback_reason == "baseline_failed"
    _render_step(call, step)
    done = call.answered(_answer())
    assert [r.prompt_id for r in done.records] == [PROMPT_ID, PROMPT_ID]


def test_when_nothing_answers_the_result_is_an_error_and_strict_raises_the_last_failure():
    last = ProviderError("still down")
    for strict in (False, True):
        call = _call(Routes(_plan(split=False)), strict=strict)
        _render_step(call, call.start())
        done = call.failed(last)
        assert isinstance(done, Finished) and done.result.status == "error"
        assert done.result.error == "ProviderError: still down" and done.result.text is None
        assert done.error is (last if strict else None)
        assert len(done.records) == 1  # the failure is recorded before anything is raised


def test_no_plan_and_no_fallback_gives_up_at_once_naming_the_failure():
    call = _call(None, failure=NotFoundError("no prompt 'greet'"), strict=True)
    done = call.start()
    assert isinstance(done, Finished) and done.records == [] and isinstance(done.error, NotFoundError)
    assert done.result.error == "NotFoundError: no prompt 'greet'"


def test_an_experiment_records_the_exposure_of_the_arm_it_routed_to():
    routes = Routes(_plan(experiment=True))
    call = _call(routes, unit="lead-3")
    step = call.start()
    assert isinstance(step, Render)
    [exposure] = call.records
    assert isinstance(exposure, ExposureRecord)
    assert (exposure.experiment_id, exposure.arm) == (7, step.attempt.arm)
    assert exposure.variant_id == step.attempt.variant_id and exposure.unit_hash == unit_hash("lead-3")
    _render_step(call, step)
    done = call.answered(_answer())
    assert done.records[0] is exposure
    assert (done.records[1].experiment_id, done.records[1].arm) == (7, step.attempt.arm)


def test_routing_is_sticky_and_the_same_as_the_routers_for_every_unit():
    routes = Routes(_plan(experiment=True))
    ctx = _context()
    first = [routes.route(f"u-{i}", ctx.rng, ctx.new_id, ctx.wall)[0].arm for i in range(2_000)]
    again = [routes.route(f"u-{i}", ctx.rng, ctx.new_id, ctx.wall)[0].arm for i in range(2_000)]
    assert first == again and set(first) == {"a", "b"}


def test_a_json_variant_records_whether_its_answer_was_valid_json():
    json_variant = _variant(3, "2.0.0", "JSON for {{ who }}", VariantKind.BASELINE, response_format="json")
    routes = Routes(ServingPlan(PROMPT_ID, "greet", {}, ((json_variant, 10_000),), json_variant, None))
    for text, valid in (('{"a": 1}', 1.0), ("not json", 0.0)):
        call = _call(routes)
        _render_step(call, call.start())
        done = call.answered(_answer(text))
        execution, score = done.records
        assert isinstance(score, ScoreRecord) and score.execution_id == execution.id
        assert (score.metric, score.value) == ("format_valid", valid)
        assert (done.result.parse_error is None) == (valid == 1.0)


def test_variables_are_hashed_but_not_kept_when_the_optimizer_stores_none():
    call = _call(Routes(_plan(split=False)), ctx=_context(store_variables=False))
    _render_step(call, call.start())
    [execution] = call.answered(_answer()).records
    assert execution.variables is None and len(execution.variables_hash or "") == 64


def test_an_output_a_store_cannot_hold_is_repaired_and_the_repair_recorded():
    call = _call(Routes(_plan(split=False)))
    _render_step(call, call.start())
    [execution] = call.answered(_answer("a\x00b")).records
    assert execution.output == "a\ufffdb" and "output" in (execution.repairs or "")


def test_a_template_error_keeps_its_own_message():
    call = _call(Routes(_plan(split=False)))
    call.start()
    done = call.rendered(TemplateError("missing template variable: who"))
    assert done.records[0].error_message == "missing template variable: who"
