"""OpenTelemetry spans around the SDK's model calls, following the GenAI semantic conventions.

Each attempt of ``PromptOptimizer.run`` (and its async twin) that reaches a provider is wrapped in one
``CLIENT`` span named ``chat {model}``: the span's own start and end are the call's duration, and it is
started as the *current* span, so it is a child of whatever span the application had open (a trace that
starts in the app continues through the SDK) and a parent of anything the provider's HTTP client traces.
A failed routed variant and the baseline that saved the call are two spans, as they are two execution
rows.

Attributes (``None`` values are left out, as OpenTelemetry forbids them):

- GenAI conventions: ``gen_ai.operation.name`` (``chat``), ``gen_ai.provider.name`` and the older
  ``gen_ai.system`` (the promptevolve provider name: ``local``, ``openai``, ``litellm``, …),
  ``gen_ai.request.model``, ``.temperature``, ``.max_tokens``; after the call ``gen_ai.response.model``,
  ``gen_ai.response.finish_reasons``, ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``;
  on failure ``error.type`` (the exception's qualified class) with the span status ``ERROR``.
- promptevolve's own: ``promptevolve.prompt.name``, ``.version``, ``.variant``, ``.experiment``,
  ``.arm``, ``promptevolve.status`` (``ok``, ``fallback``, ``error``) and ``promptevolve.fallback_reason``.

Tracing is off unless asked for (``PROMPTEVOLVE_OTEL`` or ``PromptOptimizer(telemetry=…)``): the
default ``NO_TELEMETRY`` costs one method call and an empty ``with`` and needs no OpenTelemetry package.
``on`` uses the application's global tracer provider (the app owns the SDK setup and the exporter);
``otlp`` gives promptevolve a tracer provider of its own with the OTLP/HTTP exporter, configured by the
standard ``OTEL_EXPORTER_OTLP_*`` variables (for ``promptevolve serve`` or apps that set up nothing).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import TYPE_CHECKING, Any, Literal, Protocol

from promptevolve.core.errors import ConfigurationError
from promptevolve.core.types import Completion

if TYPE_CHECKING:
    from opentelemetry.trace import Span, TracerProvider

    from promptevolve.client.call import Attempt

__all__ = ["NO_TELEMETRY", "CallSpan", "NoTelemetry", "OtelTelemetry", "Telemetry", "telemetry_for"]

OtelMode = Literal["off", "on", "otlp"]
_INSTALL = "install the extra: pip install 'promptevolve[otel]'"


class CallSpan(Protocol):
    """What the code inside ``model_call`` may tell the span: the provider's answer."""

    def completed(self, completion: Completion) -> None: ...


class Telemetry(Protocol):
    """Wraps one model call; an exception raised inside marks the span failed and propagates."""

    def model_call(self, prompt: str, attempt: Attempt, provider: str) -> Any: ...


class NoTelemetry:
    """The default: a reusable context manager that does nothing (no allocation per call)."""

    def model_call(self, prompt: str, attempt: Attempt, provider: str) -> NoTelemetry:
        return self

    def completed(self, completion: Completion) -> None:
        pass

    def __enter__(self) -> NoTelemetry:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


NO_TELEMETRY = NoTelemetry()


class _OtelCall:
    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def completed(self, completion: Completion) -> None:
        span = self.span
        span.set_attribute("gen_ai.response.model", completion.model)
        span.set_attribute("gen_ai.usage.input_tokens", completion.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", completion.completion_tokens)
        if completion.finish_reason is not None:
            span.set_attribute("gen_ai.response.finish_reasons", (completion.finish_reason,))


class OtelTelemetry:
    """Spans through OpenTelemetry's API; ``tracer_provider=None`` means the application's global one."""

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        try:
            from opentelemetry import trace
        except ImportError as exc:  # pragma: no cover - exercised only without the package
            raise ConfigurationError(f"OpenTelemetry is not installed: {_INSTALL}") from exc
        self._kind = trace.SpanKind.CLIENT
        self._error = trace.StatusCode.ERROR
        self._status = trace.Status
        self._tracer = trace.get_tracer("promptevolve", _version(), tracer_provider=tracer_provider)

    @contextmanager
    def model_call(self, prompt: str, attempt: Attempt, provider: str) -> Iterator[_OtelCall]:
        settings = attempt.settings
        attributes: dict[str, str | int | float | None] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.system": provider,
            "gen_ai.request.model": settings.model,
            "gen_ai.request.temperature": settings.temperature,
            "gen_ai.request.max_tokens": settings.max_tokens,
            "promptevolve.prompt.name": prompt,
            "promptevolve.prompt.version": attempt.version,
            "promptevolve.prompt.variant": attempt.variant_id,
            "promptevolve.prompt.experiment": attempt.experiment_id,
            "promptevolve.prompt.arm": attempt.arm,
            "promptevolve.fallback_reason": attempt.fallback_reason,
        }
        # We set the status ourselves: the SDK's own would only say "Exception: message".
        with self._tracer.start_as_current_span(
            f"chat {settings.model}",
            kind=self._kind,
            attributes={k: v for k, v in attributes.items() if v is not None},
            record_exception=True,
            set_status_on_exception=False,
        ) as span:
            try:
                yield _OtelCall(span)
            except Exception as exc:
                span.set_attribute("error.type", f"{type(exc).__module__}.{type(exc).__qualname__}")
                span.set_attribute("promptevolve.status", "error")
                span.set_status(self._status(self._error, f"{type(exc).__name__}: {exc}"[:500]))
                raise
            span.set_attribute("promptevolve.status", "ok" if attempt.fallback_reason is None else "fallback")


def telemetry_for(mode: OtelMode) -> Telemetry:
    """The telemetry a ``PROMPTEVOLVE_OTEL`` setting asks for."""
    if mode == "off":
        return NO_TELEMETRY
    if mode == "on":
        return OtelTelemetry()
    return OtelTelemetry(_otlp_provider())


@functools.cache
def _otlp_provider() -> TracerProvider:
    """One tracer provider per process for ``otlp`` mode, never installed as the global one (a library
    must not take over the application's tracing); its batch processor flushes at exit."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise ConfigurationError(f"PROMPTEVOLVE_OTEL=otlp needs the OpenTelemetry SDK: {_INSTALL}") from exc
    service = os.environ.get("OTEL_SERVICE_NAME", "promptevolve")
    provider = SdkTracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def _version() -> str | None:
    try:
        return metadata.version("promptevolve")
    except metadata.PackageNotFoundError:  # run from a source tree
        return None
