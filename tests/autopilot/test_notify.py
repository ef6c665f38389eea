"""Webhooks against a real local HTTP server that verifies the HMAC signature: retried with backoff on
5xx, final on 4xx, bounded when the receiver is gone, and sent by a pass for its decisions."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tests.autopilot.support import make_world, set_policy

from promptevolve.autopilot import AutopilotSettings, Event, Notifier, verify
from promptevolve.autopilot.notify import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from promptevolve.store.tables import Decision

SECRET = "s3cret-for-tests"


class Receiver:
    """An HTTP server in a thread: answers the scripted statuses in turn (then 200), checks signatures."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify(
                    SECRET,
                    self.headers[TIMESTAMP_HEADER],
                    body,
                    self.headers[SIGNATURE_HEADER],
                    now=time.time(),
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.requests.append(
                    {
                        "valid": ok,
                        "delivery": self.headers[DELIVERY_HEADER],
                        "body": json.loads(body),
                        "status": status,
                    }
                )
                self.send_response(status if ok else 401)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def event() -> Event:
    return Event("ramp_step", "p", "ramp_step", "treatment to 25 %", {"shares_bp": {"treatment": 2500}}, 7, 3)


def test_a_delivery_is_signed_and_retried_with_the_same_id_until_it_lands(receiver):
    receiver.statuses = [503, 502]
    sleeps: list[float] = []
    notifier = Notifier(backoff_s=0.01, sleep=lambda s: sleeps.append(s) or time.sleep(s))
    notifier.send(receiver.url, SECRET, event())
    assert notifier.flush(10)
    assert [r["status"] for r in receiver.requests] == [503, 502, 200]
    assert all(r["valid"] for r in receiver.requests), "every attempt is signed"
    assert len({r["delivery"] for r in receiver.requests}) == 1, "one delivery id for all attempts"
    assert sleeps == [0.01, 0.02], "exponential backoff"
    body = receiver.requests[-1]["body"]
    assert (body["event"], body["prompt"], body["decision_id"], body["experiment_id"]) == (
        "ramp_step",
        "p",
        7,
        3,
    )
    assert notifier.delivered == 1 and notifier.failed == 0


def test_a_client_error_is_final_and_a_wrong_secret_fails_verification(receiver):
    receiver.statuses = [400]
    notifier = Notifier(backoff_s=0.01)
    notifier.send(receiver.url, SECRET, event())
    notifier.send(receiver.url, "another secret", event())
    assert notifier.flush(10)
    assert [(r["status"], r["valid"]) for r in receiver.requests] == [(400, True), (200, False)]
    assert notifier.failed == 2, "no retry after 400; 401 for the bad signature"


def test_a_dead_receiver_never_blocks_the_sender_and_fails_after_its_attempts():
    """``send`` only queues: the delivery's first backoff waits for the test, so the delivery is still
    pending, and not failed, when ``send`` has returned (a ``send`` that delivered inline would return
    only after its attempts, failed). Proved by that order, not by timing ``send``: under a load of 6
    on one core ``send`` took up to 66 ms (p99 43 ms over 200), two thirds of the 0.1 s it was once
    given."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    go, sleeps = threading.Event(), []
    notifier = Notifier(
        backoff_s=0.05,
        attempts=3,
        deadline_s=30.0,
        timeout_s=0.5,
        sleep=lambda s: (go.wait(30), sleeps.append(s)),
    )
    notifier.send(f"http://127.0.0.1:{port}/hook", SECRET, event())
    assert (notifier.pending, notifier.failed, sleeps) == (1, 0, []), "send only queues"
    go.set()
    assert notifier.flush(10)
    assert (notifier.failed, notifier.delivered, sleeps) == (1, 0, [0.05, 0.1]), "three attempts, then failed"


def test_retries_stop_at_the_deadline_before_the_attempts_run_out():
    """Backoffs of 0.05, 0.1 and 0.2 s: the third would end past the 0.3 s deadline, however fast or
    slow the machine (the elapsed time includes the real sleeps before it), so it is never slept."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps: list[float] = []
    notifier = Notifier(
        backoff_s=0.05, attempts=10, deadline_s=0.3, sleep=lambda s: sleeps.append(s) or time.sleep(s)
    )
    notifier.send(f"http://127.0.0.1:{port}/hook", SECRET, event())
    assert notifier.flush(10)
    assert notifier.failed == 1 and sleeps in ([], [0.05], [0.05, 0.1]), sleeps


def test_without_a_secret_nothing_is_sent(receiver, caplog):
    notifier = Notifier()
    notifier.send(receiver.url, None, event())
    assert notifier.flush(2) and receiver.requests == [] and "no secret" in caplog.text


def test_a_pass_sends_its_decisions_after_they_are_committed(store, receiver):
    world = make_world(store)
    try:
        set_policy(world, "autonomous", webhook_url=receiver.url)
        world.traffic(300)
        autopilot = world.autopilot(settings=AutopilotSettings(webhook_secret=SECRET))
        report = autopilot.run_once()
        events = [r["body"] for r in receiver.requests]
        assert [e["event"] for e in events] == ["experiment_started"], (
            f"sent {[e['event'] for e in events]} for the pass's steps {report.prompts[0].steps}"
        )
        assert all(r["valid"] for r in receiver.requests)
        with store.read() as s:
            decision = s.get(Decision, events[0]["decision_id"])
        assert (
            decision.action == "experiment_started" and decision.experiment_id == events[0]["experiment_id"]
        )
        assert events[0]["figures"]["candidate"] == decision.figures["candidate"]
    finally:
        world.close()
