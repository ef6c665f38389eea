"""A small server speaking the OpenAI HTTP protocol, serving the real local model, for end-to-end tests.

It implements ``POST /v1/chat/completions`` and ``POST /v1/completions`` with OpenAI's response shapes
(choices, usage), answering through ``LocalProvider``. Some model names switch on misbehaviour, so the
OpenAI-compatible provider's error translation, timeouts and retries are tested over real HTTP:

* ``error-<status>`` (e.g. ``error-500``, ``error-429``, ``error-400``): answer that status with an
  OpenAI-style error body whose message is ``"scripted <status> for testing"``;
* ``slow-<seconds>``: wait that long, then answer "slow answer" (without running the model);
* ``flaky-<key>-<n>``: answer 503 to the first ``n`` requests for ``key``, then serve normally.

Every request (``{"path": ..., "body": ...}``) is kept in ``ServerHandle.requests`` so tests can check
what the client sent.
``running_server()`` starts uvicorn in a background thread on a free loopback port.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from promptevolve.core.errors import ProviderError
from promptevolve.core.types import ChatMessage, ModelSettings, RenderedPrompt, TemplateKind
from promptevolve.providers.local import LocalProvider

_ERROR = re.compile(r"^error-(\d{3})$")
_SLOW = re.compile(r"^slow-([0-9.]+)$")
_FLAKY = re.compile(r"^flaky-(\w+)-(\d+)$")


@dataclass
class ServerState:
    requests: list[dict[str, Any]] = field(default_factory=list)
    flaky_seen: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_app(provider: LocalProvider | None = None) -> tuple[FastAPI, ServerState]:
    app = FastAPI()
    state = ServerState()
    model = provider or LocalProvider()

    async def handle(request: Request, kind: TemplateKind) -> JSONResponse:
        body = await request.json()
        with state.lock:
            state.requests.append({"path": request.url.path, "body": body})
        misbehaviour = await _misbehave(body.get("model", ""), state)
        if misbehaviour is not None:
            return misbehaviour
        prompt = _prompt(body, kind)
        try:
            completion = await model.acomplete(prompt, _settings(body))
        except ProviderError as exc:
            return _error(400, str(exc), "invalid_request_error")
        return JSONResponse(_response(body, kind, completion.text, completion))

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        return await handle(request, TemplateKind.CHAT)

    @app.post("/v1/completions")
    async def completions(request: Request) -> JSONResponse:
        return await handle(request, TemplateKind.TEXT)

    return app, state


async def _misbehave(model: str, state: ServerState) -> JSONResponse | None:
    if match := _ERROR.match(model):
        status = int(match.group(1))
        return _error(status, f"scripted {status} for testing", "server_error" if status >= 500 else "test")
    if match := _SLOW.match(model):
        await asyncio.sleep(float(match.group(1)))
        return JSONResponse(_response({"model": model}, TemplateKind.CHAT, "slow answer", None))
    if match := _FLAKY.match(model):
        key, failures = match.group(1), int(match.group(2))
        with state.lock:
            seen = state.flaky_seen.get(key, 0)
            state.flaky_seen[key] = seen + 1
        if seen < failures:
            return _error(503, f"flaky failure {seen + 1} of {failures}", "server_error")
    return None


def _prompt(body: dict[str, Any], kind: TemplateKind) -> RenderedPrompt:
    if kind is TemplateKind.CHAT:
        messages = tuple(ChatMessage(m["role"], m["content"]) for m in body["messages"])
        return RenderedPrompt(TemplateKind.CHAT, messages=messages)
    return RenderedPrompt(TemplateKind.TEXT, text=body["prompt"])


def _settings(body: dict[str, Any]) -> ModelSettings:
    stop = body.get("stop") or ()
    response_format = body.get("response_format") or {}
    structured = response_format.get("json_schema") or {}
    extra = {"json_schema": structured["schema"]} if "schema" in structured else {}
    return ModelSettings(
        temperature=body.get("temperature", 1.0),
        # newer OpenAI clients (and DSPy through LiteLLM) send max_completion_tokens instead
        max_tokens=body.get("max_tokens") or body.get("max_completion_tokens") or 16,
        top_p=body.get("top_p"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop),
        seed=body.get("seed"),
        repeat_penalty=body.get("repeat_penalty"),
        response_format="json" if response_format.get("type") in ("json_object", "json_schema") else "text",
        **extra,
    )


def _response(body: dict[str, Any], kind: TemplateKind, text: str, completion: Any) -> dict[str, Any]:
    finish_reason = completion.finish_reason if completion is not None else "stop"
    if kind is TemplateKind.CHAT:
        obj, choice = "chat.completion", {"message": {"role": "assistant", "content": text}}
    else:
        obj, choice = "text_completion", {"text": text, "logprobs": None}
    prompt_tokens = completion.prompt_tokens if completion is not None else 1
    completion_tokens = completion.completion_tokens if completion is not None else 2
    return {
        "id": f"cmpl-{uuid.uuid4().hex}",
        "object": obj,
        "created": int(time.time()),
        "model": body.get("model", "unknown"),
        "choices": [{"index": 0, "finish_reason": finish_reason, **choice}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": None}}, status_code=status
    )


@dataclass
class ServerHandle:
    base_url: str
    state: ServerState

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.requests)


@contextmanager
def running_server(provider: LocalProvider | None = None) -> Iterator[ServerHandle]:
    """Serve the app on a free loopback port in a background thread until the block ends."""
    app, state = create_app(provider)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10.0
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test OpenAI server did not start")
        time.sleep(0.01)
    try:
        yield ServerHandle(base_url=f"http://127.0.0.1:{port}/v1", state=state)
    finally:
        server.should_exit = True
        thread.join(timeout=10.0)
        sock.close()
