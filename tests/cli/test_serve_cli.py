"""`promptevolve serve`: refuses a non-loopback address while no API key exists (exit 2), and serves the
API and the dashboard with uvicorn (a real process on a free port) once a key exists."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from promptevolve.access import KeyService
from promptevolve.cli.app import app
from promptevolve.cli.serve import is_loopback
from promptevolve.core.settings import Settings
from promptevolve.store.migrate import open_store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("127.0.0.9", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.4", False),
        ("example.org", False),
        ("", False),
    ],
)
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


@pytest.fixture
def database_url(tmp_path):
    """The server's database does not matter here: one SQLite file (migrated by the command itself)."""
    return f"sqlite:///{tmp_path / 'serve.db'}"


def test_serve_refuses_a_public_address_without_any_key(database_url):
    result = CliRunner().invoke(
        app, ["serve", "--host", "0.0.0.0"], env={"PROMPTEVOLVE_DATABASE_URL": database_url}
    )
    assert result.exit_code == 2
    assert "refusing to serve on 0.0.0.0: no API key exists" in result.stderr
    assert "promptevolve keys create" in result.stderr


def test_serve_runs_the_api_and_the_dashboard_once_a_key_exists(database_url):
    store = open_store(Settings(database_url=database_url))
    key = KeyService(store).create("ops", ["read"]).key
    store.dispose()
    port = free_port()
    env = {**os.environ, "PROMPTEVOLVE_DATABASE_URL": database_url}
    command = [
        sys.executable,
        "-m",
        "promptevolve.cli.app",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        assert httpx.get(f"{base}/api/v1/ready").json()["status"] == "ready"
        assert httpx.get(f"{base}/api/v1/prompts").status_code == 401
        assert (
            httpx.get(f"{base}/api/v1/prompts", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        )
        assert httpx.get(f"{base}/dashboard/login").status_code == 200
        assert httpx.get(f"{base}/", follow_redirects=False).headers["location"] == "/dashboard/"
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert "dashboard: http://0.0.0.0" in output
