"""OpenTelemetry spans of model calls, read back from the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import ValidationError
from sqlalchemy import select
from tests.client.support import GREETING, start_experiment

from promptevolve.client import AsyncPromptOptimizer, PromptOptimizer
from promptevolve.client.telemetry import NO_TELEMETRY, OtelTelemetry, _otlp_provider, telemetry_for
from promptevolve.core.errors import ProviderUnavailableError
from promptevolve.core.settings import Settings
from promptevolve.core.types import ModelSettings
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.registry import VariantCreate
from promptevolve.store.tables import Prompt


@pytest.fixture
def exporter():
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(exporter):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def traced(store, registry, scripted, tracer_provider):
    po = PromptOptimizer(
        store,
        settings=Settings(database_url=store.url),
        providers={"scripted": scripted},
        default_provider="scripted",
        telemetry=OtelTelemetry(tracer_provider),
    )
    yield po
    po.close()


def _greet_variant(registry, content: str, provider: str = "scripted") -> None:
    registry.register(
        VariantCreate(
            prompt="greet",
            template=[GREETING[0], {"role": "user", "content": content}],
            settings=ModelSettings(provider=provider, model="tiny-model", temperature=0.3, max_tokens=64),
        )
    )


def test_a_run_exports_one_chat_span_with_gen_ai_and_prompt_attributes(traced, exporter):
    result = traced.run("greet", {"who": "Ada"})
    (span,) = exporter.get_finished_spans()
    assert span.name == "chat smollm2-135m-instruct"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "scripted",
        "gen_ai.system": "scripted",
        "gen_ai.request.model": "smollm2-135m-instruct",
        "gen_ai.request.temperature": 0.0,
        "gen_ai.request.max_tokens": 512,
        "gen_ai.response.model": result.model,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": result.prompt_tokens,
        "gen_ai.usage.output_tokens": result.completion_tokens,
        "promptevolve.prompt.name": "greet",
        "promptevolve.prompt.version": "1.0.0",
        "promptevolve.prompt.variant": result.variant_id,
        "promptevolve.status": "ok",
    }
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    assert span.end_time > span.start_time


def test_the_span_continues_the_trace_the_application_started(traced, exporter, tracer_provider):
    app = tracer_provider.get_tracer("app")
    with app.start_as_current_span("handle request") as parent:
        traced.run("greet", {"who": "Ada"})
    chat, request = exporter.get_finished_spans()
    assert request.name == "handle request" and chat.name.startswith("chat ")
    assert chat.context.trace_id == parent.get_span_context().trace_id
    assert chat.parent.span_id == parent.get_span_context().span_id


def test_experiment_runs_carry_the_experiment_and_arm(store, registry, traced, exporter):
    _greet_variant(registry, "Hi {{ who }}!")
    a, b = registry.get_variant("greet", "1.0.0"), registry.get_variant("greet", "1.1.0")
    with store.read() as s:
        prompt_id = s.scalar(select(Prompt.id).where(Prompt.name == "greet"))
    exp_id = start_experiment(store, prompt_id, {"control": (a.id, 5000), "treatment": (b.id, 5000)})
    traced.cache.invalidate("greet")
    results = [traced.run("greet", {"who": "x"}, unit_id=f"u{i}") for i in range(20)]
    spans = exporter.get_finished_spans()
    assert len(spans) == 20
    seen = {
        (s.attributes["promptevolve.prompt.arm"], s.attributes["promptevolve.prompt.variant"]) for s in spans
    }
    assert seen == {("control", a.id), ("treatment", b.id)}
    assert {s.attributes["promptevolve.prompt.experiment"] for s in spans} == {exp_id}
    assert [s.attributes["promptevolve.prompt.arm"] for s in spans] == [r.arm for r in results]
    treatment = next(s for s in spans if s.attributes["promptevolve.prompt.arm"] == "treatment")
    assert treatment.attributes["gen_ai.request.model"] == "tiny-model"
    assert treatment.attributes["gen_ai.request.temperature"] == 0.3
    assert treatment.attributes["gen_ai.request.max_tokens"] == 64


def test_a_provider_failure_marks_its_span_failed_and_the_fallback_span_says_why(registry, traced, exporter):
    _greet_variant(registry, "Hey {{ who }}", provider="flaky")
    registry.activate("greet", "1.1.0", exclusive=True)
    traced._providers["flaky"] = ScriptedProvider(fail_with=ProviderUnavailableError("model server down"))
    result = traced.run("greet", {"who": "Ada"})
    assert result.status == "fallback"
    failed, saved = exporter.get_finished_spans()
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "ProviderUnavailableError: model server down"
    assert failed.attributes["error.type"] == "promptevolve.core.errors.ProviderUnavailableError"
    assert failed.attributes["promptevolve.status"] == "error"
    assert failed.attributes["gen_ai.provider.name"] == "flaky"
    assert "gen_ai.usage.input_tokens" not in failed.attributes
    assert [e.name for e in failed.events] == ["exception"]
    assert saved.status.status_code is StatusCode.UNSET
    assert saved.attributes["promptevolve.status"] == "fallback"
    assert saved.attributes["promptevolve.fallback_reason"] == "variant_failed"
    assert saved.attributes["promptevolve.prompt.version"] == "1.0.0"


def test_async_runs_are_children_of_the_app_span_of_their_own_task(traced, exporter, tracer_provider):
    app = tracer_provider.get_tracer("app")

    async def one(po: AsyncPromptOptimizer, i: int) -> int:
        with app.start_as_current_span(f"request {i}") as parent:
            await po.run("greet", {"who": f"n{i}"})
            return parent.get_span_context().span_id

    async def main() -> list[int]:
        po = AsyncPromptOptimizer(traced)
        return await asyncio.gather(*(one(po, i) for i in range(5)))

    parents = asyncio.run(main())
    chats = [s for s in exporter.get_finished_spans() if s.name.startswith("chat ")]
    assert len(chats) == 5
    assert sorted(s.parent.span_id for s in chats) == sorted(parents)
    assert all(s.attributes["promptevolve.status"] == "ok" for s in chats)


def test_async_provider_failure_is_an_error_span(traced, exporter):
    traced._providers["scripted"] = ScriptedProvider(fail_with=ProviderUnavailableError("down"))
    result = asyncio.run(AsyncPromptOptimizer(traced).run("greet", {"who": "x"}))
    assert result.status == "error"
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "promptevolve.core.errors.ProviderUnavailableError"


def test_tracing_is_off_unless_the_setting_asks_for_it(monkeypatch):
    monkeypatch.delenv("PROMPTEVOLVE_OTEL", raising=False)
    assert telemetry_for(Settings().otel) is NO_TELEMETRY
    monkeypatch.setenv("PROMPTEVOLVE_OTEL", "on")
    assert isinstance(telemetry_for(Settings().otel), OtelTelemetry)
    monkeypatch.setenv("PROMPTEVOLVE_OTEL", "yes please")
    with pytest.raises(ValidationError, match="otel"):
        Settings()


def test_otlp_mode_owns_a_provider_with_the_otlp_exporter_and_leaves_the_global_one_alone():
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    before = trace.get_tracer_provider()
    telemetry = telemetry_for("otlp")
    provider = _otlp_provider()
    assert isinstance(telemetry, OtelTelemetry)
    assert provider.resource.attributes["service.name"] == "promptevolve"
    exporters = [p.span_exporter for p in provider._active_span_processor._span_processors]
    assert [type(e) for e in exporters] == [OTLPSpanExporter]
    assert trace.get_tracer_provider() is before
