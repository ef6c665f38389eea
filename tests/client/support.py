"""Helpers for client tests: experiments inserted directly, and real store outages."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

from sqlalchemy.engine import make_url

from promptevolve.store.engine import Store
from promptevolve.store.tables import Experiment, ExperimentArm

GREETING = [
    {"role": "system", "content": "You greet people."},
    {"role": "user", "content": "Greet {{ who }}."},
]


def start_experiment(
    store: Store, prompt_id: int, arms: dict[str, tuple[int, int]], seed: str = "exp-seed"
) -> int:
    """Insert a running experiment: arms = {arm: (variant_id, share_bp)}, first arm is control."""
    with store.write() as s:
        exp = Experiment(prompt_id=prompt_id, name="t", status="running", seed=seed)
        s.add(exp)
        s.flush()
        for i, (arm, (variant_id, share)) in enumerate(arms.items()):
            s.add(
                ExperimentArm(
                    experiment_id=exp.id, arm=arm, variant_id=variant_id, share_bp=share, is_control=i == 0
                )
            )
        return exp.id


class TcpProxy:
    """A loopback TCP proxy to PostgreSQL that a test can cut: a real network outage."""

    def __init__(self, target_port: int = 5432) -> None:
        self.target_port = target_port
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.up = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def cut(self) -> None:
        self.up = False
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass
        self.server.close()


class Outage:
    """Make the store unreachable for new connections: a cut proxy (PostgreSQL) or a vanished file."""

    def __init__(self, backend: str, database_url: str, tmp_path: Path) -> None:
        self.backend = backend
        self.proxy: TcpProxy | None = None
        if backend == "postgres":
            target = make_url(database_url)
            self.proxy = TcpProxy(target.port or 5432)
            self.url = database_url.replace(f"{target.host}:{target.port}", f"127.0.0.1:{self.proxy.port}")
        else:
            self.url = database_url
            self.path = Path(database_url.removeprefix("sqlite:///"))
            self.moved = tmp_path / "moved-away.db"

    def start(self, store: Store) -> None:
        if self.proxy is not None:
            self.proxy.cut()
        else:
            for suffix in ("", "-wal", "-shm"):
                src = Path(str(self.path) + suffix)
                if src.exists():
                    src.rename(Path(str(self.moved) + suffix))
            self.path.mkdir()  # a directory where the file was: SQLite cannot open it
        store.engine.dispose()
