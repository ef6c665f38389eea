from __future__ import annotations

import time

from sqlalchemy import func, select

from promptevolve.core.ids import new_id
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.tables import Execution, Exposure
from promptevolve.tracking.recorder import Recorder


def _row(variant_id, i, **extra):
    return {
        "id": new_id(),
        "variant_id": variant_id,
        "status": "ok",
        "output": f"out {i}",
        "ts": time.time(),
        **extra,
    }


def _count(store, table=Execution):
    with store.read() as s:
        return s.scalar(select(func.count()).select_from(table))


def test_a_full_queue_drops_the_oldest_and_counts_them(store):
    recorder = Recorder(store, capacity=5, start=False)
    rows = [_row(None, i) for i in range(8)]
    for row in rows:
        recorder.enqueue("executions", row)
    assert recorder.stats.dropped == 3
    assert not recorder.is_pending(rows[0]["id"]) and recorder.is_pending(rows[7]["id"])
    assert recorder.flush()
    with store.read() as s:
        kept = set(s.scalars(select(Execution.output)))
    assert kept == {f"out {i}" for i in range(3, 8)}


def test_batches_are_written_in_the_background_parents_first(store):
    variant = Registry(store).register(VariantCreate(prompt="p", template="x")).variant
    recorder = Recorder(store, batch_size=50, interval_s=0.01)
    for i in range(500):
        row = _row(variant.id, i)
        recorder.enqueue("executions", row)
    assert recorder.flush(timeout_s=30)
    assert _count(store) == 500 and recorder.stats.written == 500
    recorder.close()


def test_one_bad_row_does_not_poison_its_batch(store):
    recorder = Recorder(store, start=False)
    good = [_row(None, i) for i in range(20)]
    bad = _row(None, 99, status=None)  # a NOT NULL violation
    for row in [*good[:10], bad, *good[10:]]:
        recorder.enqueue("executions", row)
    recorder.flush()
    assert _count(store) == 20
    assert recorder.stats.rejected == 1
    assert "null" in recorder.stats.last_error.lower()


def test_exposures_reference_their_experiment_and_are_written(store):
    from promptevolve.store.tables import Experiment, Prompt

    Registry(store).register(VariantCreate(prompt="p", template="x"))
    with store.write() as s:
        pid = s.scalar(select(Prompt.id))
        exp = Experiment(prompt_id=pid, name="e", seed="s")
        s.add(exp)
        s.flush()
        exp_id = exp.id
    recorder = Recorder(store, start=False)
    for i in range(10):
        recorder.enqueue(
            "exposures",
            {
                "id": new_id(),
                "experiment_id": exp_id,
                "arm": "a",
                "variant_id": None,
                "unit_hash": str(i),
                "ts": time.time(),
            },
        )
    recorder.flush()
    assert _count(store, Exposure) == 10
