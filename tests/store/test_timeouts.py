"""Every wait on the store is bounded by a setting, and running out of it is "unavailable" (retry later,
503), never "bad data" or a 500 (issue 14, item 5). The API under a stalled store is in
``tests/api/test_stalled_store.py``."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from promptevolve.core.errors import StoreUnavailableError
from promptevolve.core.ids import new_id
from promptevolve.core.settings import Settings
from promptevolve.store.engine import Store, StoreTimeouts
from promptevolve.store.tables import Execution, Prompt
from promptevolve.store.writes import bulk_insert


def test_settings_from_the_environment_reach_the_store(monkeypatch, database_url, backend) -> None:
    monkeypatch.setenv("PROMPTEVOLVE_DB_STATEMENT_TIMEOUT_S", "12.5")
    monkeypatch.setenv("PROMPTEVOLVE_DB_LOCK_TIMEOUT_S", "1.5")
    monkeypatch.setenv("PROMPTEVOLVE_DB_CONNECT_TIMEOUT_S", "4")
    monkeypatch.setenv("PROMPTEVOLVE_DB_POOL_TIMEOUT_S", "2")
    store = Store.from_settings(Settings(database_url=database_url))
    try:
        assert store.timeouts == StoreTimeouts(connect_s=4, statement_s=12.5, lock_s=1.5, pool_s=2.0)
        assert store.engine.pool.timeout() == 2.0
        with store.read() as s:
            if backend == "postgres":
                assert s.execute(text("SHOW statement_timeout")).scalar() == "12500ms"
                assert s.execute(text("SHOW lock_timeout")).scalar() == "1500ms"
                assert s.execute(text("SHOW search_path")).scalar().startswith("t_"), "the URL's options kept"
            else:
                assert s.execute(text("PRAGMA busy_timeout")).scalar() == 1500
    finally:
        store.dispose()


def test_settings_refuse_timeouts_that_would_disable_the_bound() -> None:
    with pytest.raises(ValueError, match="db_lock_timeout_s"):
        Settings(db_lock_timeout_s=0)
    with pytest.raises(ValueError, match="db_connect_timeout_s"):
        Settings(db_connect_timeout_s=1)


def test_a_lock_held_elsewhere_is_unavailable_naming_the_setting(database_url, backend) -> None:
    store = Store.from_url(database_url, timeouts=StoreTimeouts(lock_s=0.5))
    holder = create_engine(database_url)
    conn = holder.connect()
    try:
        if backend == "postgres":
            conn.execute(text("LOCK TABLE prompts IN ACCESS EXCLUSIVE MODE"))
        else:
            conn.connection.driver_connection.isolation_level = None
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailableError, match="PROMPTEVOLVE_DB_LOCK_TIMEOUT_S"), store.write() as s:
            s.add(Prompt(name="p", config={}, created_by="test"))
    finally:
        conn.rollback() if backend == "postgres" else conn.exec_driver_sql("ROLLBACK")
        conn.close()
        holder.dispose()
        store.dispose()


def test_no_free_pooled_connection_is_unavailable_not_a_server_error(database_url) -> None:
    store = Store.from_url(database_url, timeouts=StoreTimeouts(pool_s=0.2), pool_size=1, max_overflow=0)
    try:
        with store.read() as holding:
            holding.execute(text("SELECT 1"))  # the pool's one connection is now taken
            with pytest.raises(StoreUnavailableError, match="PROMPTEVOLVE_DB_POOL_TIMEOUT_S"):
                store.ping()
    finally:
        store.dispose()


def test_a_bulk_write_that_times_out_on_a_lock_is_retryable_not_rejected_rows(database_url, backend) -> None:
    """The recorder retries a batch on ``StoreUnavailableError`` and bisects it (dropping rows it
    thinks are bad) on ``StoreError``: a lock timeout inside COPY must be the former."""
    store = Store.from_url(database_url, timeouts=StoreTimeouts(lock_s=0.5))
    holder = create_engine(database_url)
    conn = holder.connect()
    row = {"id": new_id(), "status": "ok", "source": "run", "ts": 0.0}
    try:
        if backend == "postgres":
            conn.execute(text("LOCK TABLE executions IN ACCESS EXCLUSIVE MODE"))
        else:
            conn.connection.driver_connection.isolation_level = None
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailableError, match="PROMPTEVOLVE_DB_LOCK_TIMEOUT_S"):
            bulk_insert(store, Execution.__table__, [row])
    finally:
        conn.rollback() if backend == "postgres" else conn.exec_driver_sql("ROLLBACK")
        conn.close()
        holder.dispose()
    assert bulk_insert(store, Execution.__table__, [row]) == 1, "the same batch goes in once the lock is gone"
    store.dispose()
