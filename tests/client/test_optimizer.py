from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter

import pytest
from sqlalchemy import func, select
from tests.client.support import GREETING, Outage, start_experiment

from promptevolve.client import PromptOptimizer
from promptevolve.core.errors import (
    NotFoundError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from promptevolve.core.settings import Settings
from promptevolve.core.types import ModelSettings
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.registry import VariantCreate
from promptevolve.store.engine import Store
from promptevolve.store.tables import Execution, Exposure, Feedback, Score


def _executions(store):
    with store.read() as s:
        return s.scalars(select(Execution).order_by(Execution.ts)).all()


def test_run_answers_and_records_the_execution(optimizer, store):
    result = optimizer.run("greet", {"who": "Ada"}, unit_id="lead-1")
    assert (result.status, result.text, result.version) == ("ok", "reply to: Greet Ada.", "1.0.0")
    assert result.execution_id and not result.is_fallback
    assert result.completion_tokens == 4 and result.prompt_tokens > 0
    assert optimizer.flush()
    [row] = _executions(store)
    assert (row.id, row.status, row.output, row.variables) == (
        result.execution_id,
        "ok",
        result.text,
        {"who": "Ada"},
    )
    assert row.unit_hash and row.unit_hash != "lead-1", "unit ids are stored hashed"
    assert row.latency_ms is not None and row.prompt_tokens == result.prompt_tokens


def test_json_variants_are_parsed_and_their_validity_recorded(store, registry, optimizer, scripted):
    registry.register(
        VariantCreate(
            prompt="j",
            template="Give JSON for {{ x }}",
            settings=ModelSettings(provider="scripted", response_format="json"),
        )
    )
    registry.activate("j", "1.0.0")
    good = ScriptedProvider(['```json\n{"a": 1}\n```', "Sure! here it is: {oops"])
    optimizer._providers["scripted"] = good
    first, second = optimizer.run("j", {"x": 1}), optimizer.run("j", {"x": 2})
    assert first.parsed == {"a": 1} and first.parse_error is None
    assert second.parsed is None and "JSON" in second.parse_error and second.status == "ok"
    optimizer.flush()
    with store.read() as s:
        scores = dict(
            s.execute(select(Score.execution_id, Score.value).where(Score.metric == "format_valid")).all()
        )
    assert scores == {first.execution_id: 1.0, second.execution_id: 0.0}


def test_experiment_routing_is_sticky_and_logs_exposures(store, registry, optimizer, scripted):
    b = registry.register(
        VariantCreate(
            prompt="greet",
            template=[GREETING[0], {"role": "user", "content": "Hi {{ who }}!"}],
            settings=ModelSettings(provider="scripted"),
        )
    ).variant
    a = registry.get_variant("greet", "1.0.0")
    prompt_id = registry.get_prompt("greet")
    with store.read() as s:
        from promptevolve.store.tables import Prompt

        pid = s.scalar(select(Prompt.id).where(Prompt.name == prompt_id.name))
    exp_id = start_experiment(store, pid, {"control": (a.id, 5000), "treatment": (b.id, 5000)})
    optimizer.cache.invalidate("greet")
    first = {f"u{i}": optimizer.run("greet", {"who": "x"}, unit_id=f"u{i}").arm for i in range(60)}
    other = PromptOptimizer(
        store, settings=Settings(database_url=store.url), providers={"scripted": scripted}
    )
    again = {f"u{i}": other.run("greet", {"who": "x"}, unit_id=f"u{i}").arm for i in range(60)}
    assert first == again, "a unit keeps its arm across optimizer instances"
    assert set(Counter(first.values())) == {"control", "treatment"}
    optimizer.flush(), other.flush()
    other.close()
    with store.read() as s:
        exposures = s.scalar(
            select(func.count()).select_from(Exposure).where(Exposure.experiment_id == exp_id)
        )
        arms = dict(s.execute(select(Execution.arm, func.count()).group_by(Execution.arm)).all())
    assert exposures == 120
    assert arms["control"] + arms["treatment"] == 120


def test_shares_between_active_variants_route_by_unit(registry, optimizer):
    registry.register(
        VariantCreate(prompt="greet", template=[GREETING[0], {"role": "user", "content": "Yo {{ who }}"}])
    )
    registry.set_shares("greet", {"1.0.0": 50, "1.1.0": 50})
    versions = Counter(optimizer.run("greet", {"who": "x"}, unit_id=f"u{i}").version for i in range(400))
    assert 150 < versions["1.1.0"] < 250
    assert (
        optimizer.run("greet", {"who": "x"}, unit_id="u7").version
        == optimizer.run("greet", {"who": "y"}, unit_id="u7").version
    )


def test_feedback_is_linked_even_before_the_execution_is_flushed(optimizer, store):
    result = optimizer.run("greet", {"who": "Ada"})
    ids = optimizer.feedback(result.execution_id, thumbs=True, rating=4, correction="Hello, Ada!")
    assert len(ids) == 3
    with store.read() as s:
        rows = s.execute(
            select(Feedback.kind, Feedback.value, Feedback.text)
            .where(Feedback.execution_id == result.execution_id)
            .order_by(Feedback.kind)
        ).all()
    assert rows == [("correction", None, "Hello, Ada!"), ("rating", 4.0, None), ("thumbs", 1.0, None)]


def test_feedback_on_an_unknown_execution_is_a_clear_error(optimizer):
    with pytest.raises(NotFoundError, match="unknown execution id 'nope'"):
        optimizer.feedback("nope", thumbs=False)


def test_provider_down_falls_back_to_the_baseline_and_records_both(store, registry, optimizer, scripted):
    registry.register(
        VariantCreate(
            prompt="greet",
            template=[GREETING[0], {"role": "user", "content": "Hey {{ who }}"}],
            settings=ModelSettings(provider="flaky"),
        )
    )
    registry.activate("greet", "1.1.0", exclusive=True)
    optimizer._providers["flaky"] = ScriptedProvider(fail_with=ProviderUnavailableError("model server down"))
    result = optimizer.run("greet", {"who": "Ada"})
    assert (result.status, result.version, result.fallback_reason) == ("fallback", "1.0.0", "variant_failed")
    assert result.text == "reply to: Greet Ada."
    optimizer.flush()
    rows = {(r.status, r.fallback_reason) for r in _executions(store)}
    assert rows == {("error", "provider_error"), ("fallback", "variant_failed")}
    assert optimizer.stats().fallbacks == {"variant_failed": 1}


def test_timeout_falls_back_to_the_baseline(registry, optimizer):
    registry.register(
        VariantCreate(
            prompt="greet",
            template=[GREETING[0], {"role": "user", "content": "Slow {{ who }}"}],
            settings=ModelSettings(provider="slow", timeout_s=0.01),
        )
    )
    registry.activate("greet", "1.1.0", exclusive=True)
    optimizer._providers["slow"] = ScriptedProvider(["late"], latency_s=5.0)
    result = optimizer.run("greet", {"who": "Ada"})
    assert (result.status, result.version) == ("fallback", "1.0.0")


def test_bad_template_output_falls_back_to_the_baseline(registry, optimizer):
    registry.register(
        VariantCreate(
            prompt="greet", template=[GREETING[0], {"role": "user", "content": "{{ who }} from {{ city }}"}]
        )
    )
    registry.activate("greet", "2.0.0", exclusive=True)
    result = optimizer.run("greet", {"who": "Ada"})
    assert (result.status, result.version, result.fallback_reason) == ("fallback", "1.0.0", "variant_failed")


def test_unexpected_exceptions_never_reach_the_caller(registry, optimizer):
    def boom(prompt, settings):
        raise RuntimeError("bug inside a provider")

    optimizer._providers["scripted"] = ScriptedProvider(boom)
    result = optimizer.run("greet", {"who": "Ada"}, fallback="Say hi to {{ who }}")
    assert result.status == "error" and "bug inside a provider" in result.error
    assert optimizer.stats().fallbacks["no_answer"] == 1


def test_strict_mode_raises_the_last_error(registry, optimizer):
    optimizer._providers["scripted"] = ScriptedProvider(fail_with=ProviderTimeoutError("too slow"))
    with pytest.raises(ProviderTimeoutError):
        optimizer.run("greet", {"who": "Ada"}, strict=True)


def test_unknown_prompt_serves_the_callers_fallback(optimizer):
    result = optimizer.run("missing", {"who": "Ada"}, fallback="Say hi to {{ who }}")
    assert (result.status, result.fallback_reason, result.version) == ("fallback", "unknown_prompt", None)
    assert result.text == "reply to: Say hi to Ada"
    assert optimizer.run("missing", {"who": "Ada"}).status == "error"


def test_store_down_serves_the_last_good_cached_variant(backend, database_url, tmp_path, scripted):
    outage = Outage(backend, database_url, tmp_path)
    store = Store.from_url(outage.url)
    from promptevolve.registry import Registry

    Registry(store).register(
        VariantCreate(prompt="greet", template=GREETING, settings=ModelSettings(provider="scripted"))
    )
    po = PromptOptimizer(
        store, settings=Settings(database_url=outage.url), providers={"scripted": scripted}, cache_ttl_s=0.0
    )
    assert po.run("greet", {"who": "Ada"}).status == "ok"
    po.flush()
    outage.start(store)
    po.cache.invalidate("greet")
    results = [po.run("greet", {"who": "Bob"}) for _ in range(3)]
    assert all(r.status == "ok" and r.version == "1.0.0" for r in results), results
    assert po.cache.stats.failures >= 1
    assert not po.flush(timeout_s=0.5), "the writer keeps the records while the store is down"
    assert po.stats().recorder["write_failures"] >= 1
    po.recorder.close(timeout_s=0.1)


def test_store_down_without_cache_serves_the_callers_fallback(backend, database_url, tmp_path, scripted):
    outage = Outage(backend, database_url, tmp_path)
    store = Store.from_url(outage.url)
    outage.start(store)
    po = PromptOptimizer(
        store,
        settings=Settings(database_url=outage.url),
        providers={"scripted": scripted},
        default_provider="scripted",
    )
    result = po.run("greet", {"who": "Ada"}, fallback=GREETING)
    assert (result.status, result.fallback_reason, result.text) == (
        "fallback",
        "registry_unavailable",
        "reply to: Greet Ada.",
    )
    assert po.get_prompt("greet", fallback=GREETING).is_fallback
    po.recorder.close(timeout_s=0.1)


def test_get_prompt_and_track_record_an_external_call(store, optimizer):
    handle = optimizer.get_prompt("greet", unit_id="u1")
    messages = handle.messages({"who": "Ada"})
    assert messages[-1] == {"role": "user", "content": "Greet Ada."}
    execution_id = optimizer.track(
        handle,
        variables={"who": "Ada"},
        output="Hello Ada",
        latency_ms=120.0,
        prompt_tokens=10,
        completion_tokens=2,
        model="gpt-4o-mini",
    )
    optimizer.flush()
    [row] = _executions(store)
    assert (row.id, row.source, row.output, row.model) == (execution_id, "track", "Hello Ada", "gpt-4o-mini")
    assert row.cost_usd is not None and row.cost_usd > 0


def test_activation_through_the_optimizer_invalidates_its_cache(registry, optimizer):
    assert optimizer.run("greet", {"who": "x"}).version == "1.0.0"
    optimizer.registry.register(
        VariantCreate(prompt="greet", template=[GREETING[0], {"role": "user", "content": "New {{ who }}"}])
    )
    optimizer.registry.activate("greet", "1.1.0", exclusive=True)
    assert optimizer.run("greet", {"who": "x"}).version == "1.1.0"


def test_queued_executions_are_written_at_interpreter_exit(database_url):
    """Only the atexit drain can write these rows: the writer is built to wait 60 s and 250 rows stay
    under its batch size, so nothing is written while the script runs.

    The recorder is built with its interval rather than given it after it started: the writer's first
    wait had already begun with the default 0.2 s, and when a loaded machine held the script between its
    last call and the ``print``, that wait ended, the writer wrote every row, and the test read 0 queued
    rows (it flaked once in CI; a 0.3 s pause there reproduces it every time)."""
    script = textwrap.dedent(f"""
        from promptevolve.client import PromptOptimizer
        from promptevolve.core.settings import Settings
        from promptevolve.core.types import ModelSettings
        from promptevolve.providers.scripted import ScriptedProvider
        from promptevolve.registry import VariantCreate
        from promptevolve.store.engine import Store
        from promptevolve.tracking.recorder import Recorder
        store = Store.from_url({database_url!r})
        po = PromptOptimizer(store, settings=Settings(database_url={database_url!r}),
                             recorder=Recorder(store, interval_s=60),
                             providers={{"scripted": ScriptedProvider(["hi"], cycle=True)}})
        po.registry.register(VariantCreate(prompt="exit", template="x {{{{ y }}}}",
                                           settings=ModelSettings(provider="scripted")))
        for i in range(250):
            po.run("exit", {{"y": i}})
        print(po.recorder.pending(), po.recorder.stats.written)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["250", "0"], f"queued and written when the script ended: {out.stdout!r}"
    store = Store.from_url(database_url)
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(Execution)) == 250
    store.dispose()
