from __future__ import annotations

import logging
import random
import signal
import subprocess
import sys
import textwrap
import time

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from promptevolve.core.ids import new_id
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store
from promptevolve.store.tables import Execution, Exposure
from promptevolve.tracking.recorder import Recorder, retry_delay
from promptevolve.tracking.records import ExecutionRecord, ExposureRecord

_EMPTY = dict.fromkeys(ExecutionRecord._fields)


def _row(variant_id, i, **changes):
    """An execution record (the fields a test does not care about are None)."""
    values = {**_EMPTY, "id": new_id(), "variant_id": variant_id, "status": "ok", "output": f"out {i}"}
    return ExecutionRecord(**{**values, "source": "run", "ts": time.time(), **changes})


def _first_write_refused(recorder):
    """Queue one row and wait (up to 30 s) until the refusing store has refused its one write."""
    recorder.record(_row(None, 0))
    deadline = time.monotonic() + 30
    while recorder.stats.write_failures == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert recorder.stats.write_failures == 1


def _count(store, table=Execution):
    with store.read() as s:
        return s.scalar(select(func.count()).select_from(table))


def test_a_full_queue_drops_the_oldest_and_counts_them(store):
    recorder = Recorder(store, capacity=5, start=False)
    rows = [_row(None, i) for i in range(8)]
    for row in rows:
        recorder.record(row)
    assert recorder.stats.dropped == 3
    assert not recorder.is_pending(rows[0].id) and recorder.is_pending(rows[7].id)
    assert recorder.flush()
    with store.read() as s:
        kept = set(s.scalars(select(Execution.output)))
    assert kept == {f"out {i}" for i in range(3, 8)}


def test_batches_are_written_in_the_background_parents_first(store):
    variant = Registry(store).register(VariantCreate(prompt="p", template="x")).variant
    recorder = Recorder(store, batch_size=50, interval_s=0.01)
    for i in range(500):
        row = _row(variant.id, i)
        recorder.record(row)
    assert recorder.flush(timeout_s=30)
    assert _count(store) == 500 and recorder.stats.written == 500
    recorder.close()


def test_one_bad_row_does_not_poison_its_batch(store):
    recorder = Recorder(store, start=False)
    good = [_row(None, i) for i in range(20)]
    bad = _row(None, 99, status=None)  # a NOT NULL violation
    for row in [*good[:10], bad, *good[10:]]:
        recorder.record(row)
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
        recorder.record(ExposureRecord(new_id(), exp_id, "a", None, str(i), time.time()))
    recorder.flush()
    assert _count(store, Exposure) == 10


# --- drops the application can see ------------------------------------------------------------------


def test_dropped_rows_reach_on_drop_and_one_warning_per_period(store, caplog):
    reports = []
    recorder = Recorder(store, capacity=5, start=False, on_drop=reports.append, warn_every_s=3600)
    with caplog.at_level(logging.WARNING, logger="promptevolve.recorder"):
        for i in range(8):
            recorder.record(_row(None, i))
        assert recorder.flush()
        for i in range(7):
            recorder.record(_row(None, i))
        assert recorder.flush()
    assert [(r.reason, r.count, r.total_dropped) for r in reports] == [
        ("queue_full", 3, 3),
        ("queue_full", 2, 5),
    ]
    warnings = [r for r in caplog.records if r.name == "promptevolve.recorder"]
    assert len(warnings) == 1 and "lost 3 tracking rows" in warnings[0].getMessage()
    assert recorder.stats.dropped == 5 and _count(store) == 10


def test_rows_the_store_rejects_are_reported_as_rejected(store):
    reports = []
    recorder = Recorder(store, start=False, on_drop=reports.append)
    recorder.record(_row(None, 1))
    recorder.record(_row(None, 2, status=None))  # NOT NULL violation
    recorder.flush()
    [report] = reports
    assert (report.reason, report.count, report.total_rejected) == ("rejected", 1, 1)
    assert "null" in report.last_error.lower()


def test_an_on_drop_callback_that_raises_is_logged_and_writing_goes_on(store, caplog):
    def broken(_report):
        raise RuntimeError("callback bug")

    recorder = Recorder(store, capacity=1, start=False, on_drop=broken)
    with caplog.at_level(logging.ERROR, logger="promptevolve.recorder"):
        recorder.record(_row(None, 1))
        recorder.record(_row(None, 2))
        assert recorder.flush()
    assert _count(store) == 1
    assert any("on_drop" in r.getMessage() for r in caplog.records)


# --- pacing the caller while the store keeps up ---------------------------------------------------


def test_a_deep_queue_paces_the_caller_while_the_store_takes_writes(store):
    # The writer waits for a full batch that never comes: a healthy store, the queue deepening.
    recorder = Recorder(store, capacity=100, batch_size=10**9, interval_s=3600, pace_s=0.0001)
    try:
        for i in range(80):
            recorder.record(_row(None, i))
        assert recorder.stats.paced == 31  # depths 50 to 80: half of capacity and beyond
        assert recorder.stats.dropped == 0
        assert recorder.flush(timeout_s=30) and _count(store) == 80
    finally:
        recorder.close()


def test_a_refusing_store_never_paces_the_caller_and_its_drops_reach_on_drop(tmp_path):
    refusing = Store.from_url("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    reports = []
    recorder = Recorder(
        refusing,
        capacity=100,
        batch_size=1,
        interval_s=0.01,
        retry_base_s=60,
        retry_s=60,
        on_drop=reports.append,
    )
    try:
        _first_write_refused(recorder)
        for i in range(200):
            recorder.record(_row(None, i))
        assert recorder.stats.paced == 0
        assert recorder.stats.dropped == 101  # 201 queued, room for 100: the oldest went
        assert not recorder.flush(timeout_s=0.5)  # one more attempt, refused; it reports the drops
        assert [(r.reason, r.total_dropped) for r in reports] == [("queue_full", 101)]
        assert "127.0.0.1:1" in (reports[0].last_error or "")
    finally:
        recorder._closed = True  # let the daemon writer stop without draining a store that is not there


def test_a_write_stalled_longer_than_pace_stall_s_does_not_pace_the_caller(tmp_path):
    from promptevolve.store.engine import StoreTimeouts
    from promptevolve.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'stalled.db'}"
    store = Store.from_url(url, timeouts=StoreTimeouts(lock_s=60.0))
    upgrade(store)
    holder = Store.from_url(url)
    recorder = Recorder(store, capacity=100, batch_size=1, interval_s=0.01, pace_stall_s=0.2)
    try:
        with holder.write() as s:  # holds SQLite's write lock: the recorder's first write waits for it
            s.execute(select(func.count()).select_from(Execution))  # BEGIN IMMEDIATE
            recorder.record(_row(None, 0))
            deadline = time.monotonic() + 30
            while recorder._write_started is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)  # the write has now been stuck longer than pace_stall_s
            for i in range(80):
                recorder.record(_row(None, i))
            assert recorder.stats.paced == 0
        assert recorder.flush(timeout_s=60) and _count(store) == 81
    finally:
        recorder.close()
        holder.dispose()
        store.dispose()


# --- backoff against a store that refuses -----------------------------------------------------------


@settings(max_examples=200)
@given(st.integers(1, 100_000), st.floats(0.001, 1.0), st.floats(0.1, 30.0), st.integers(0, 2**32))
def test_retry_delays_double_up_to_the_ceiling_with_jitter(failures, base, cap, seed):
    rng = random.Random(seed)
    ceiling = min(cap, base * 2 ** min(failures - 1, 64))
    delay = retry_delay(failures, base_s=base, cap_s=cap, rng=rng)
    assert ceiling / 2 <= delay <= ceiling <= cap


def test_new_rows_do_not_cut_the_backoff_short_against_a_refusing_store(tmp_path):
    refusing = Store.from_url("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    recorder = Recorder(refusing, batch_size=10, interval_s=0.01, retry_base_s=60, retry_s=60)
    try:
        _first_write_refused(recorder)
        for i in range(5_000):  # 500 batches' worth of wake-ups while the writer waits out its backoff
            recorder.record(_row(None, i))
        time.sleep(0.5)
        assert recorder.stats.write_failures == 1
        assert not recorder.flush(timeout_s=0.5), "flush retries at once, and the store still refuses"
        assert recorder.stats.write_failures == 2
    finally:
        recorder._closed = True  # let the daemon writer stop without draining a store that is not there


# --- SIGTERM ----------------------------------------------------------------------------------------

_QUEUE_THEN_WAIT = textwrap.dedent(
    """
    import sys, time
    from promptevolve.core.ids import new_id
    from promptevolve.store.engine import Store
    from promptevolve.tracking.recorder import Recorder
    from promptevolve.tracking.records import ExecutionRecord

    store = Store.from_url(sys.argv[1])
    # Nothing is written before the signal: no full batch, and the writer's timer is an hour. The drain
    # may take a minute instead of the default 5 s: 20,000 rows took up to 2.6 s under a load of 6 on one
    # core (0.4 s idle), and how long a drain may take is a setting, not what this test proves.
    recorder = Recorder(store, batch_size=10**9, interval_s=3600, sigterm_drain_s=60)
    for i in range(int(sys.argv[2])):
        values = {"id": new_id(), "status": "ok", "output": str(i), "source": "run", "ts": time.time()}
        recorder.record(ExecutionRecord(**{**dict.fromkeys(ExecutionRecord._fields), **values}))
    print("queued", flush=True)
    time.sleep(120)
    """
)


def test_sigterm_drains_the_queue_before_the_process_ends(store, database_url):
    child = subprocess.Popen(
        [sys.executable, "-c", _QUEUE_THEN_WAIT, database_url, "20000"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "queued"
        assert _count(store) == 0
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == -signal.SIGTERM, "the process still ends as terminated by SIGTERM"
    finally:
        child.kill()
    assert _count(store) == 20_000


_APP_HANDLER = textwrap.dedent(
    """
    import signal, sys
    from promptevolve.store.engine import Store
    from promptevolve.tracking.recorder import Recorder

    def app_handler(signum, frame):
        pass

    signal.signal(signal.SIGTERM, app_handler)
    Recorder(Store.from_url(sys.argv[1]))
    print(signal.getsignal(signal.SIGTERM) is app_handler)
    """
)


def test_an_applications_own_sigterm_handler_is_left_in_place(database_url):
    out = subprocess.run(
        [sys.executable, "-c", _APP_HANDLER, database_url], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "True"
