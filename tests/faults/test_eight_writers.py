"""Eight processes doing the same writing operation at the same moment leave one truth (issue 14's
fault suite), on SQLite and PostgreSQL: registering a variant, activating, importing feedback, starting
and analysing an experiment, importing a dataset.

Eight worker processes (spawned once for the module) each take a job from their own queue, meet at a
barrier of eight, run it, and report what happened: a value, or the exception's class and message. An
expected refusal (``ConflictError``, ``TrafficShareError``) is an outcome; anything else fails the test
with its message. The workers' store waits up to a minute for locks, so contention on a loaded machine
is a wait, not a lock timeout (``tests/store/test_timeouts.py`` tests those).
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.experiments.support import make_lab

from promptevolve.compose import compose
from promptevolve.core.settings import Settings
from promptevolve.core.types import ModelSettings
from promptevolve.evolution.datasets import ItemIn, import_items
from promptevolve.experiments import ExperimentCreate
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store, StoreTimeouts
from promptevolve.store.tables import Dataset, DatasetItem, Decision, Feedback, PromptVariant
from promptevolve.tracking.feedback_import import import_feedback

pytestmark = pytest.mark.slow  # eight processes on a 2-core machine: about a minute a database

WORKERS = 8
WAIT_S = 180
PATIENT = StoreTimeouts(lock_s=60, pool_s=60)
SCRIPTED = ModelSettings(provider="scripted")


# --- the operations, each run by every worker (index 0-7) ------------------------------------------


def _register_same(store: Store, index: int, arg: Any) -> Any:
    return (
        Registry(store, actor=f"w{index}")
        .register(VariantCreate(prompt="same", template="Same {{ x }}"))
        .created
    )


def _register_distinct(store: Store, index: int, arg: Any) -> Any:
    request = VariantCreate(prompt="distinct", template=f"Template {index} {{{{ x }}}}")
    return Registry(store, actor=f"w{index}").register(request).variant.version


def _activate(store: Store, index: int, arg: Any) -> Any:
    return Registry(store, actor=f"w{index}").activate("many", f"1.{index}.0", share=60).version


def _import_feedback(store: Store, index: int, arg: Any) -> Any:
    return import_feedback(store, Path(arg)).feedback_written


def _start(store: Store, index: int, arg: Any) -> Any:
    return compose(store, actor=f"w{index}").experiments.start(arg[index]).status


def _analyze(store: Store, index: int, arg: Any) -> Any:
    return compose(store, actor=f"w{index}").experiments.analyze(arg).actions


def _import_dataset(store: Store, index: int, arg: Any) -> Any:
    items = [ItemIn(id=f"i{n}", inputs={"x": n}, expected=str(n)) for n in range(20)]
    return import_items(store, "shared", items, replace=arg).size


OPERATIONS: dict[str, Callable[[Store, int, Any], Any]] = {
    f.__name__.lstrip("_"): f
    for f in (
        _register_same,
        _register_distinct,
        _activate,
        _import_feedback,
        _start,
        _analyze,
        _import_dataset,
    )
}


def _worker(index: int, barrier: Any, jobs: Any, results: Any) -> None:
    while (job := jobs.get()) is not None:
        operation, url, arg = job
        store = Store.from_url(url, timeouts=PATIENT)
        try:
            barrier.wait(timeout=WAIT_S)
            results.put((index, "ok", OPERATIONS[operation](store, index, arg)))
        except Exception as exc:
            results.put((index, type(exc).__name__, str(exc)))
        finally:
            store.dispose()


@dataclass
class Outcomes:
    values: list[Any]  # the value of each worker that succeeded
    refusals: Counter[str]  # expected refusals by class name


@dataclass
class Workers:
    jobs: list[Any]
    results: Any

    def run(self, operation: str, url: str, arg: Any = None) -> Outcomes:
        for q in self.jobs:
            q.put((operation, url, arg))
        reports = []
        for _ in range(WORKERS):
            try:
                reports.append(self.results.get(timeout=WAIT_S))
            except queue.Empty:
                pytest.fail(f"{operation}: only {len(reports)} of {WORKERS} workers answered: {reports}")
        expected = {"ConflictError", "DuplicateVersionError", "TrafficShareError"}
        unexpected = [r for r in reports if r[1] != "ok" and r[1] not in expected]
        assert not unexpected, f"{operation}: {unexpected}"
        return Outcomes(
            [r[2] for r in reports if r[1] == "ok"], Counter(r[1] for r in reports if r[1] != "ok")
        )


@pytest.fixture(scope="module")
def workers() -> Iterator[Workers]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    jobs = [ctx.Queue() for _ in range(WORKERS)]
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(i, barrier, jobs[i], results), daemon=True) for i in range(WORKERS)
    ]
    for p in procs:
        p.start()
    try:
        yield Workers(jobs, results)
    finally:
        for q in jobs:
            q.put(None)
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()


def _count(store: Store, what: Any, *where: Any) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(what).where(*where)) or 0)


# --- the tests --------------------------------------------------------------------------------------


def test_eight_registrations_of_the_same_content_make_one_variant(store, database_url, workers):
    outcomes = workers.run("register_same", database_url)
    assert sorted(outcomes.values) == [False] * 7 + [True]  # one created it; seven found it
    assert _count(store, PromptVariant) == 1


def test_eight_registrations_of_different_content_make_eight_distinct_versions(store, database_url, workers):
    outcomes = workers.run("register_distinct", database_url)
    assert len(outcomes.values) == WORKERS and len(set(outcomes.values)) == WORKERS, outcomes
    assert _count(store, PromptVariant) == WORKERS


def test_eight_activations_at_60_percent_let_exactly_one_win(store, database_url, workers):
    registry = Registry(store, actor="setup")
    for i in range(WORKERS):
        registry.register(VariantCreate(prompt="many", template=f"V{i} {{{{ x }}}}", version=f"1.{i}.0"))
    outcomes = workers.run("activate", database_url)
    assert len(outcomes.values) == 1 and outcomes.refusals == Counter({"TrafficShareError": WORKERS - 1})
    active = registry.get_prompt("many").active
    assert list(active.values()) == [60.0]


def test_eight_imports_of_one_feedback_file_store_each_row_once(store, database_url, workers, tmp_path):
    Registry(store).register(VariantCreate(prompt="p", template="Say {{ x }}", settings=SCRIPTED))
    Registry(store).activate("p", "1.0.0")
    from promptevolve.client import PromptOptimizer
    from promptevolve.providers.scripted import ScriptedProvider

    with PromptOptimizer(
        store, settings=Settings(database_url=database_url), providers={"scripted": ScriptedProvider()}
    ) as po:
        ids = [po.run("p", {"x": i}).execution_id for i in range(30)]
        assert po.flush(30)
    path = tmp_path / "feedback.csv"
    path.write_text(
        "execution_id,thumbs,comment\n" + "".join(f"{e},{i % 2 == 0},row {i}\n" for i, e in enumerate(ids))
    )
    outcomes = workers.run("import_feedback", database_url, str(path))
    assert sum(outcomes.values) == 30, outcomes  # written once in all, whoever wrote each row
    assert _count(store, Feedback) == 30


def _lab(store: Store) -> Registry:
    registry = Registry(store, actor="setup")
    for body in ("A {{ x }}", "B {{ x }}"):
        registry.register(VariantCreate(prompt="p", template=body, settings=SCRIPTED))
    registry.activate("p", "1.0.0")
    return registry


def test_eight_starts_of_drafts_of_one_prompt_let_exactly_one_run(store, database_url, workers):
    _lab(store)
    service = compose(store, actor="setup").experiments
    request = ExperimentCreate(
        prompt="p", control="1.0.0", treatments=["1.1.0"], metric="thumbs", min_sample=1000
    )
    drafts = [service.create(request).id for _ in range(WORKERS)]
    outcomes = workers.run("start", database_url, drafts)
    assert len(outcomes.values) == 1 and outcomes.refusals == Counter({"ConflictError": WORKERS - 1})
    assert sorted(e.status for e in service.list()).count("draft") == WORKERS - 1  # one started


def test_eight_analyses_at_once_apply_a_ramp_step_once(store, database_url, workers):
    lab = make_lab(store)
    info = lab.service.create(
        ExperimentCreate(
            prompt="p",
            control="1.0.0",
            treatments=["1.1.0"],
            metric="thumbs",
            min_sample=10**6,
            ramp=[2, 5, 10, 25, 50, 100],
            min_units_per_step=10,
            guardrails=[],
            srm_grace_s=0,
        )
    )
    lab.service.start(info.id)
    try:
        lab.drive(1500)  # enough for the treatment to pass its first step (>= 10 units at 2 %)
    finally:
        lab.close()
    outcomes = workers.run("analyze", database_url, info.id)
    assert sorted(map(tuple, outcomes.values)) == [()] * 7 + [("ramp_step",)], outcomes
    assert lab.service.get(info.id).ramp_step == 1
    with store.read() as s:
        steps = s.scalars(select(Decision.action).where(Decision.action == "ramp_step")).all()
    assert len(steps) == 1


def test_eight_imports_of_a_new_dataset_let_one_create_it(store, database_url, workers):
    outcomes = workers.run("import_dataset", database_url, False)
    assert outcomes.values == [20] and outcomes.refusals == Counter({"ConflictError": WORKERS - 1}), outcomes
    assert _count(store, Dataset) == 1 and _count(store, DatasetItem) == 20


def test_eight_replacing_imports_of_one_dataset_leave_one_copy(store, database_url, workers):
    outcomes = workers.run("import_dataset", database_url, True)
    assert outcomes.values == [20] * WORKERS, outcomes
    assert _count(store, Dataset) == 1 and _count(store, DatasetItem) == 20
