"""``AsyncPromptOptimizer``: the SDK for asyncio applications.

It wraps a ``PromptOptimizer`` and shares its cache, recorder, registry and counters, and drives the same
call state machine as ``PromptOptimizer.run`` (``client.call``: fallbacks, records and result decided
there); only the model call is awaited (``Provider.acomplete``), and the few steps that may touch the
database (a cold cache, feedback) run in a worker thread so the event loop never blocks on I/O.
Templates with logic (loops, filters, macros) render in a worker thread too: a render may take up to its
time limit (``templates.RenderLimits``), and the server's other requests and health checks must not wait
for it; plain ``{{ name }}`` templates render in microseconds on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from promptevolve.client.call import CallModel, Render, Step
from promptevolve.client.optimizer import PromptOptimizer, Template
from promptevolve.client.results import OptimizerStats, PromptHandle, RunResult
from promptevolve.core.types import ModelSettings
from promptevolve.templates import is_plain

__all__ = ["AsyncPromptOptimizer"]


class AsyncPromptOptimizer:
    """Same behaviour as ``PromptOptimizer`` (fallback chain, tracking, never raising unless strict)."""

    def __init__(self, optimizer: PromptOptimizer | None = None, **kwargs: Any) -> None:
        self.sync = optimizer or PromptOptimizer(**kwargs)

    async def run(
        self,
        name: str,
        variables: Mapping[str, Any] | None = None,
        *,
        unit_id: str | None = None,
        fallback: Template | None = None,
        fallback_settings: ModelSettings | None = None,
        strict: bool | None = None,
    ) -> RunResult:
        po = self.sync
        args = (name, variables, unit_id, fallback, fallback_settings, strict)
        call = (
            po.begin(*args) if po.cache.peek(name) is not None else await asyncio.to_thread(po.begin, *args)
        )
        step: Step = call.start()
        while True:
            if type(step) is Render:
                attempt = step.attempt
                if is_plain(attempt.template):
                    step = call.rendered(po.render(attempt, call.variables))
                else:
                    step = call.rendered(await asyncio.to_thread(po.render, attempt, call.variables))
            elif type(step) is CallModel:
                attempt = step.attempt
                try:
                    with po.telemetry.model_call(name, attempt, po.provider_name(attempt.settings)) as span:
                        completion = await po.provider(attempt.settings).acomplete(
                            step.prompt, attempt.settings
                        )
                        span.completed(completion)
                except Exception as exc:
                    step = call.failed(exc)
                else:
                    step = call.answered(completion)
            else:
                return po.finish(step)  # type: ignore[arg-type]

    async def get_prompt(self, name: str, **kwargs: Any) -> PromptHandle:
        return await asyncio.to_thread(self.sync.get_prompt, name, **kwargs)

    def track(self, handle: PromptHandle, **kwargs: Any) -> str:
        """Queue the record of an external call (no I/O: safe to call from the event loop)."""
        return self.sync.track(handle, **kwargs)

    async def feedback(self, execution_id: str, **kwargs: Any) -> list[str]:
        return await asyncio.to_thread(self.sync.feedback, execution_id, **kwargs)

    async def flush(self, timeout_s: float | None = 10.0) -> bool:
        return await asyncio.to_thread(self.sync.flush, timeout_s)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.sync.close)

    async def __aenter__(self) -> AsyncPromptOptimizer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def stats(self) -> OptimizerStats:
        return self.sync.stats()
