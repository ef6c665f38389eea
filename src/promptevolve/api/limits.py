"""A request body limit, enforced before the body reaches a route (HTTP 413 as problem+json).

A declared ``Content-Length`` above the limit is refused at once, without reading the body; a body
sent without one (chunked) is counted as it arrives and refused as soon as it passes the limit, so a
client can never make the server buffer more than ``max_bytes``.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from promptevolve.api.errors import PROBLEM_JSON

__all__ = ["BodyLimitMiddleware", "too_large_detail"]


def too_large_detail(max_bytes: int) -> str:
    return f"the request body is larger than this server's limit of {max_bytes} bytes"


class _BodyTooLarge(HTTPException):
    """Raised while the route reads the body: FastAPI re-raises HTTP errors from reading, and the
    error handlers turn it into a 413 problem."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=too_large_detail(max_bytes))


def _problem(max_bytes: int, path: str) -> bytes:
    body = {
        "type": "urn:promptevolve:problem:body_too_large",
        "title": "Content Too Large",
        "status": 413,
        "detail": too_large_detail(max_bytes),
        "code": "body_too_large",
        "instance": path,
    }
    return json.dumps(body).encode()


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = _problem(self.max_bytes, scope.get("path", ""))
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
