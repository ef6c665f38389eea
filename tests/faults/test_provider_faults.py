"""A model server that is down, too slow, or answers garbage (issue 14's fault suite): ``run()`` never
raises unless strict, answers the caller's fallback when one is given, and the execution it records
names the kind of error, on SQLite and PostgreSQL.

The server is real HTTP (the standard library's, on loopback) behind the real ``openai`` client
(``OpenAICompatProvider``); what it answers is chosen by the model name the variant asks for.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from promptevolve.client import PromptOptimizer
from promptevolve.core.errors import ProviderError
from promptevolve.core.settings import Settings
from promptevolve.core.types import ModelSettings
from promptevolve.providers.openai_compat import OpenAICompatProvider
from promptevolve.providers.retry import RetryPolicy
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store
from promptevolve.tracking.executions import ExecutionFilter, get_execution, list_executions

pytestmark = pytest.mark.slow  # about 30 s a database (timeouts, retries, an 8 MB answer)

HUGE = 8_000_000  # characters: far past any real answer


def _completion(content: object) -> bytes:
    return json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).encode()


#: Answers that are well-formed: a null content is an empty answer (as OpenAI's own API may give), and
#: a huge one is an answer; both are stored as they are.
_ANSWERS_OK = ("null-content", "huge-answer")
#: What the server answers, by the model name asked for: (content type, body).
ANSWERS: dict[str, tuple[str, bytes]] = {
    "invalid-json": ("application/json", b'{"choices": [{"message": '),
    "wrong-schema": ("application/json", b'{"result": "no choices here"}'),
    "choices-not-a-list": ("application/json", b'{"choices": "yes", "model": "m"}'),
    "empty-body": ("application/json", b""),
    "no-choices": ("application/json", b'{"id": "x", "choices": [], "model": "m"}'),
    "null-content": ("application/json", _completion(None)),
    "html": ("text/html", b"<html><body>502 Bad Gateway</body></html>"),
    "huge-garbage": ("application/json", b"{" * HUGE),
    "huge-answer": ("application/json", _completion("x" * HUGE)),
}


class _Garbage(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        model = json.loads(self.rfile.read(length) or b"{}").get("model", "")
        if model == "slow":
            time.sleep(3.0)
            kind, body = "application/json", _completion("too late")
        else:
            kind, body = ANSWERS[model]
        try:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (timeout): nothing to answer
            pass

    def log_message(self, *args: object) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def garbage_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed when the block ends: nothing listens there


@pytest.fixture
def optimizer(store: Store, garbage_url: str) -> Iterator[PromptOptimizer]:
    providers = {
        "garbage": OpenAICompatProvider(base_url=garbage_url, timeout_s=30.0, text_mode="chat"),
        "down": OpenAICompatProvider(base_url=f"http://127.0.0.1:{_closed_port()}/v1", text_mode="chat"),
    }
    retry = RetryPolicy(max_attempts=2, base_delay_s=0.01, deadline_s=None)
    with PromptOptimizer(
        store, settings=Settings(database_url=store.url), providers=providers, retry=retry
    ) as po:
        yield po


def _variant(store: Store, provider: str, model: str, timeout_s: float | None = None) -> None:
    settings = ModelSettings(provider=provider, model=model, timeout_s=timeout_s)
    registry = Registry(store, actor="test")
    registry.register(VariantCreate(prompt="p", template="Say {{ x }}", settings=settings))
    registry.activate("p", "1.0.0")


FAULTS = [
    ("down", "any", None, "ProviderUnavailableError"),
    ("garbage", "slow", 0.5, "ProviderTimeoutError"),
    *[("garbage", model, None, "ProviderError") for model in ANSWERS if model not in _ANSWERS_OK],
]


@pytest.mark.parametrize(
    ("provider", "model", "timeout_s", "error_class"), FAULTS, ids=[f[1] for f in FAULTS]
)
def test_a_failing_model_never_raises_and_the_execution_records_the_error_kind(
    store: Store,
    optimizer: PromptOptimizer,
    provider: str,
    model: str,
    timeout_s: float | None,
    error_class: str,
) -> None:
    _variant(store, provider, model, timeout_s)
    result = optimizer.run("p", {"x": "hi"})
    assert result.status == "error" and result.error is not None
    assert optimizer.flush(30)
    (recorded,) = list_executions(store, ExecutionFilter(prompt="p"))
    assert recorded.status == "error" and recorded.fallback_reason == "provider_error"
    assert recorded.error_class == f"promptevolve.core.errors.{error_class}", recorded.error_message

    saved = optimizer.run("p", {"x": "hi"}, fallback="Plain {{ x }}")  # the caller's own prompt
    assert saved.status in ("error", "fallback")  # its model is the same failing one; never a raise

    with pytest.raises(ProviderError):
        optimizer.run("p", {"x": "hi"}, strict=True)


@pytest.mark.parametrize(("model", "length"), [("huge-answer", HUGE), ("null-content", 0)])
def test_a_huge_or_empty_answer_is_answered_and_stored_whole(
    store: Store, optimizer: PromptOptimizer, model: str, length: int
) -> None:
    _variant(store, "garbage", model)
    result = optimizer.run("p", {"x": "hi"})
    assert result.status == "ok" and len(result.text or "") == length
    assert optimizer.flush(60)
    assert len(get_execution(store, result.execution_id).output or "") == length
