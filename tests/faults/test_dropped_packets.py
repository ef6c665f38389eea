"""Packets to PostgreSQL dropped on connections the API already holds (issue 14, item 5, the
firewall case): every request still answers within a stated bound, ``/ready`` and explicit writes with
a 503 naming the store, and the server recovers once packets flow again.

How the fault is made, for real: the server (uvicorn, a subprocess) runs in a network namespace of its
own and reaches PostgreSQL through a veth pair and a TCP relay in the test process (PostgreSQL listens
on loopback only). After warm-up calls have opened the pool's connections and the group commit's
connection, both ends of that veth get a ``pfifo`` queue of length 0, which drops every packet, in
both directions, without a reset: exactly what a firewall rule ``DROP`` does to an established
connection. The API itself is reached over a second, healthy veth pair. (``netem loss 100%`` and
``iptables`` would be the usual tools; this kernel has neither the netem qdisc nor any tc classifier,
and no iptables binary, but a zero-length FIFO drops the same way.)

Needs root (network namespaces, ``ip``, ``tc``) and PostgreSQL; skipped otherwise, with the reason.
"""

from __future__ import annotations

import os
import random
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.engine import make_url
from tests.api.support import make_keys, wait_for_health

from promptevolve.core.types import ModelSettings
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store

pytestmark = pytest.mark.slow

#: What a request may take with packets dropped: the TCP user timeout (2 s by default, the connect
#: timeout's value) or the pool's wait (3 s), plus the group commit's own bound, plus scheduling on a
#: loaded machine. Far below the kernel's own retransmission give-up (about 15 minutes).
BOUND_S = 20.0
PROBLEM = "application/problem+json"


def _sh(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


@dataclass(frozen=True)
class Namespace:
    name: str
    db_host: str  # the relay's address, as the namespace sees it
    api_host: str  # the server's address in the namespace, as the test sees it
    db_links: tuple[str, str]  # (host side, namespace side) of the database path

    def exec(self, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *command]

    def drop(self, on: bool) -> None:
        """Drop every packet on the database path, both ways (a pfifo of length 0), or stop dropping."""
        host, inside = self.db_links
        for where, link in ((), host), (("ip", "netns", "exec", self.name), inside):
            if on:
                done = _sh(*where, "tc", "qdisc", "replace", "dev", link, "root", "pfifo", "limit", "0")
            else:
                done = _sh(*where, "tc", "qdisc", "del", "dev", link, "root")
            assert done.returncode == 0, done.stderr


@contextmanager
def namespace() -> Iterator[Namespace]:
    for _ in range(5):  # another run of this test may hold a number: take a free one
        n = random.randrange(1, 250)
        name, db, api = f"pe_fault_{n}", (f"pfd{n}h", f"pfd{n}n"), (f"pfa{n}h", f"pfa{n}n")
        if _sh("ip", "link", "show", db[0]).returncode == 0:
            continue
        created = _sh("ip", "netns", "add", name)
        if created.returncode == 0:
            break
        if "exists" not in created.stderr:
            pytest.skip(f"cannot create a network namespace here (needs root): {created.stderr.strip()}")
    else:
        pytest.fail("no free network namespace number in five tries")
    try:
        for (host, inside), net in ((db, 231), (api, 232)):
            steps = [
                ("ip", "link", "add", host, "type", "veth", "peer", "name", inside),
                ("ip", "link", "set", inside, "netns", name),
                ("ip", "addr", "add", f"10.{net}.{n}.1/30", "dev", host),
                ("ip", "link", "set", host, "up"),
                ("ip", "netns", "exec", name, "ip", "addr", "add", f"10.{net}.{n}.2/30", "dev", inside),
                ("ip", "netns", "exec", name, "ip", "link", "set", inside, "up"),
            ]
            for step in steps:
                done = _sh(*step)
                assert done.returncode == 0, f"{' '.join(step)}: {done.stderr}"
        _sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield Namespace(name, f"10.231.{n}.1", f"10.232.{n}.2", db)
    finally:
        _sh("ip", "link", "del", db[0])
        _sh("ip", "link", "del", api[0])
        _sh("ip", "netns", "del", name)


@contextmanager
def relay(listen_host: str, target: tuple[str, int]) -> Iterator[int]:
    """A TCP relay from ``listen_host`` (a free port) to ``target``; its port."""
    listener = socket.create_server((listen_host, 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    sockets: list[socket.socket] = [listener]

    def pipe(a: socket.socket, b: socket.socket) -> None:
        while not stop.is_set():
            ready, _, _ = select.select([a, b], [], [], 0.2)
            for src in ready:
                try:
                    data = src.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                (b if src is a else a).sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                client = listener.accept()[0]
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(target)
            sockets.extend((client, upstream))
            threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        for s in sockets:
            s.close()


@contextmanager
def served_in(ns: Namespace, database_url: str) -> Iterator[str]:
    """The real server inside ``ns`` with ``database_url``; its base URL once /health answers."""
    port = 8000 + random.randrange(1000)
    env = {
        **os.environ,
        "PROMPTEVOLVE_DATABASE_URL": database_url,
        "PROMPTEVOLVE_AUTO_MIGRATE": "0",
        "PROMPTEVOLVE_DEFAULT_PROVIDER": "scripted",
        # Keys stay cached through the test, so requests reach the paths past authentication: the
        # group commit's own connection (feedback, run) as well as the pool's (ready, registration).
        "PROMPTEVOLVE_API_KEY_CACHE_S": "300",
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "promptevolve.server.app:create_app"]
    command += ["--host", ns.api_host, "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(
        ns.exec(*command), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://{ns.api_host}:{port}/api/v1"
    try:
        wait_for_health(process, base)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _timed(client: httpx.Client, method: str, url: str, **kwargs: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.request(method, url, **kwargs)  # type: ignore[arg-type]
    return response, time.monotonic() - started


def test_requests_answer_within_the_bound_when_packets_to_postgres_are_dropped(
    backend: str, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if backend != "postgres":
        pytest.skip("packets on a network path: PostgreSQL only")
    store = Store.from_url(database_url)
    try:
        registry = Registry(store, actor="setup")
        registry.register(
            VariantCreate(prompt="p", template="Say {{ x }}", settings=ModelSettings(provider="scripted"))
        )
        registry.activate("p", "1.0.0")
        key = make_keys(store)["admin"]
    finally:
        store.dispose()
    url = make_url(database_url)
    with namespace() as ns, relay(ns.db_host, (url.host or "127.0.0.1", url.port or 5432)) as port:
        relayed = url.set(host=ns.db_host, port=port).render_as_string(hide_password=False)
        with served_in(ns, relayed) as base, httpx.Client(timeout=60.0) as client:
            auth = {"Authorization": f"Bearer {key}"}
            for i in range(3):  # warm: the pool's connections and the group commit's are open
                assert client.get(f"{base}/ready").status_code == 200
                run = client.post(f"{base}/prompts/p/run", json={"variables": {"x": i}}, headers=auth)
                assert run.status_code == 200 and run.json()["recorded"] is True, run.text
            feedback = f"/executions/{run.json()['execution_id']}/feedback"
            ns.drop(True)
            timings = []
            try:
                for method, path, body in [
                    # First, while the key is still cached (5 s): feedback and the run reach the group
                    # commit's own connection, which is open and now silent.
                    ("POST", feedback, {"thumbs": True}),
                    ("POST", "/prompts/p/run", {"variables": {"x": "dropped"}}),
                    ("GET", "/ready", None),
                    ("GET", "/auth/whoami", None),
                    (
                        "POST",
                        "/variants",
                        {"prompt": "q", "template": "Hi", "settings": {"provider": "scripted"}},
                    ),
                    ("GET", "/ready", None),
                ]:
                    response, took = _timed(client, method, f"{base}{path}", json=body, headers=auth)
                    detail = response.json().get("detail", "") if response.status_code >= 400 else ""
                    timings.append((f"{method} {path}", response.status_code, round(took, 2), detail[:160]))
                    assert took < BOUND_S, timings
                    if response.status_code >= 500:
                        assert response.status_code == 503, response.text
                        assert response.headers["content-type"].startswith(PROBLEM)
                        assert response.json()["code"] == "store_unavailable", response.text
                        assert "PROMPTEVOLVE_DB_" in response.json()["detail"], response.text  # which bound
            finally:
                ns.drop(False)
            with capsys.disabled():
                print(f"\nwith packets dropped: {timings}")
            statuses = dict((t[0], t[1]) for t in timings)
            assert statuses["GET /ready"] == 503 and statuses["POST /variants"] == 503, timings
            assert statuses[f"POST {feedback}"] == 503, timings  # not acknowledged: it was not stored
            deadline = time.monotonic() + 60  # packets flow again: the server recovers by itself
            while client.get(f"{base}/ready").status_code != 200:
                assert time.monotonic() < deadline, "the server did not recover within 60 s"
                time.sleep(0.5)
            run = client.post(f"{base}/prompts/p/run", json={"variables": {"x": "after"}}, headers=auth)
            assert run.status_code in (200, 202), run.text
