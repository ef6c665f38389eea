"""Faults injected for real: a database made read-only under the code that uses it.

- **SQLite**: the database file is bind-mounted read-only over a copy (``mount --bind`` then
  ``remount,ro``), so every write fails in the kernel (``EROFS``) while the directory stays writable
  for SQLite's ``-wal`` and ``-shm`` files, as on a read-only file. A ``chmod 0444`` would not do:
  the tests run as root in CI, and root ignores file modes. Needs ``CAP_SYS_ADMIN``; skipped otherwise.
- **PostgreSQL**: a database of the test's own with ``default_transaction_read_only = on``, set after
  it is migrated and filled and before the code under test connects: every session is read-only, as
  on a standby or after an operator's switch; writes fail with SQLSTATE 25006.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from promptevolve.store.engine import Store
from promptevolve.store.migrate import upgrade


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@contextmanager
def read_only_sqlite(tmp_path: Path, prepare: Callable[[Store], None]) -> Iterator[str]:
    """The URL of a migrated SQLite database, prepared by ``prepare``, then read-only."""
    source, view = tmp_path / "source.db", tmp_path / "store.db"
    store = Store.from_url(f"sqlite:///{source}")
    upgrade(store)
    prepare(store)
    store.dispose()
    shutil.copy(source, view)
    bound = _mount("--bind", str(source), str(view))
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount a file read-only here (needs root): {bound.stderr.strip()}")
    try:
        remounted = _mount("-o", "remount,ro,bind", str(view))
        assert remounted.returncode == 0, remounted.stderr
        yield f"sqlite:///{view}"
    finally:
        _mount_umount = subprocess.run(["umount", str(view)], capture_output=True, text=True, check=False)
        assert _mount_umount.returncode == 0, _mount_umount.stderr


@contextmanager
def read_only_postgres(server_url: str, prepare: Callable[[Store], None]) -> Iterator[str]:
    """The URL of a PostgreSQL database of our own, migrated, prepared, then read-only."""
    name = f"pe_faults_ro_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        store = Store.from_url(url)
        upgrade(store)
        prepare(store)
        store.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def read_only_database(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, prepare: Callable[[Store], None]
) -> Iterator[str]:
    """``read_only_sqlite`` or ``read_only_postgres``, for the ``backend`` fixture's value."""
    if backend == "sqlite":
        with read_only_sqlite(tmp_path, prepare) as url:
            yield url
    else:
        with read_only_postgres(request.getfixturevalue("postgres_url"), prepare) as url:
            yield url
