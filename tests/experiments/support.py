"""A small lab for experiment tests: a prompt with variants served by scripted providers through the
real SDK, latencies with a little noise, and feedback written in bulk."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from promptevolve.client import PromptOptimizer
from promptevolve.compose import compose
from promptevolve.core.ids import new_id
from promptevolve.core.settings import Settings
from promptevolve.core.types import Completion, ModelSettings, RenderedPrompt
from promptevolve.experiments import ExperimentService
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store
from promptevolve.store.tables import Feedback
from promptevolve.store.writes import bulk_insert

VERSIONS = ("1.0.0", "1.1.0", "1.2.0")


class JitteredProvider:
    """A ``ScriptedProvider`` whose reported latency varies log-normally around ``median_ms`` (a
    constant latency has no variance, and latency tests need some)."""

    def __init__(
        self, inner: ScriptedProvider, *, median_ms: float, sigma: float = 0.1, seed: int = 0
    ) -> None:
        self.inner, self.name = inner, inner.name
        self.median_ms, self.sigma = median_ms, sigma
        self._rng = random.Random(seed)

    def _jitter(self, completion: Completion) -> Completion:
        return replace(completion, latency_ms=self.median_ms * math.exp(self.sigma * self._rng.gauss(0, 1)))

    def complete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        return self._jitter(self.inner.complete(prompt, settings))

    async def acomplete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        return self._jitter(await self.inner.acomplete(prompt, settings))


@dataclass
class Lab:
    store: Store
    registry: Registry
    optimizer: PromptOptimizer
    service: ExperimentService
    providers: dict[str, ScriptedProvider]
    rng: random.Random
    served: int = 0

    def close(self) -> None:
        self.optimizer.close()

    def drive(self, n: int, *, thumbs: dict[str, float] | None = None, units: int | None = None) -> list:
        """``n`` calls from new units (or ``units`` returning ones); thumbs up with the given probability
        per version. Returns the run results."""
        results = []
        for i in range(n):
            unit = f"u{self.served + i}" if units is None else f"u{self.rng.randrange(units)}"
            results.append(self.optimizer.run("p", {"x": i}, unit_id=unit))
        self.served += n
        assert self.optimizer.flush(30)
        if thumbs:
            rows = [
                {
                    "id": new_id(),
                    "execution_id": r.execution_id,
                    "kind": "thumbs",
                    "value": float(self.rng.random() < thumbs[r.version]),
                    "source": "user",
                    "ts": 0.0,
                }
                for r in results
                if r.execution_id and r.version in thumbs and r.status == "ok"
            ]
            bulk_insert(self.store, Feedback.__table__, rows)
        return results


def make_lab(
    store: Store,
    *,
    latency_ms: dict[str, float] | None = None,
    errors: dict[str, int] | None = None,
    variants: int = 2,
    seed: int = 0,
) -> Lab:
    """Prompt ``p`` with ``variants`` versions (1.0.0 active), each on its own scripted provider.
    ``errors[version] = k`` makes every k-th call of that version fail (not retryable)."""
    from promptevolve.core.errors import ProviderError

    registry = Registry(store, actor="test")
    providers: dict[str, ScriptedProvider] = {}
    wrapped = {}
    for i, version in enumerate(VERSIONS[:variants]):
        name = f"v{i}"
        k = (errors or {}).get(version)
        replies: list = (
            [f"answer {i}"] * (k - 1) + [ProviderError("scripted failure")] if k else [f"answer {i}"]
        )
        providers[version] = ScriptedProvider(replies, cycle=True, name=name)
        wrapped[name] = JitteredProvider(
            providers[version], median_ms=(latency_ms or {}).get(version, 500.0), seed=seed + i
        )
        registry.register(
            VariantCreate(
                prompt="p", template=f"Variant {i} for {{{{ x }}}}", settings=ModelSettings(provider=name)
            )
        )
    registry.activate("p", "1.0.0")
    registry.set_label("p", "production", "1.0.0")
    # A long TTL: a background refresh started before a share change could otherwise put the old plan
    # back after an invalidation (stale-while-revalidate), which tests with srm_grace_s=0 would see.
    optimizer = PromptOptimizer(
        store, settings=Settings(database_url=store.url), providers=wrapped, cache_ttl_s=3600.0
    )
    service = compose(store, actor="test", on_change=optimizer.cache.invalidate).experiments
    return Lab(store, registry, optimizer, service, providers, random.Random(seed))
