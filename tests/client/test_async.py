from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from promptevolve.client import AsyncPromptOptimizer
from promptevolve.core.errors import ProviderUnavailableError
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.store.tables import Execution


def test_async_run_answers_records_and_takes_feedback(optimizer, store):
    async def main():
        async with AsyncPromptOptimizer(optimizer) as po:
            results = await asyncio.gather(
                *(po.run("greet", {"who": f"n{i}"}, unit_id=f"u{i}") for i in range(20))
            )
            await po.feedback(results[0].execution_id, rating=5)
            return results

    results = asyncio.run(main())
    assert all(r.status == "ok" and r.text.startswith("reply to: Greet n") for r in results)
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(Execution)) == 20


def test_async_fallback_chain_matches_the_sync_one(optimizer):
    optimizer._providers["scripted"] = ScriptedProvider(fail_with=ProviderUnavailableError("down"))

    async def main():
        po = AsyncPromptOptimizer(optimizer)
        return await po.run("greet", {"who": "x"}, fallback="hi {{ who }}")

    result = asyncio.run(main())
    assert result.status == "error" and "down" in result.error
    assert optimizer.stats().fallbacks["no_answer"] == 1
