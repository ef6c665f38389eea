"""The dashboard's way to the data: the API, called in process with the signed-in user's session.

The dashboard holds no services of its own: every page reads through the API's JSON and every button
posts to the API, with the session token from the cookie (it acts as the key that signed in). Scopes
are therefore checked in one place, by the API, and a page can never show or do more than its key may.
``httpx.ASGITransport`` calls the API app directly (no socket), so this costs an in-process request per
call.
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.types import ASGIApp

__all__ = ["ApiClient", "ApiError"]


class ApiError(Exception):
    """An API error answer: its status and the problem's ``detail``."""

    def __init__(self, status: int, detail: str, code: str = "error") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code


class ApiClient:
    def __init__(self, api: ASGIApp, credential: str) -> None:
        self._http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api),
            base_url="http://api.internal",
            headers={"Authorization": f"Bearer {credential}"},
            timeout=60.0,
        )

    async def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self._check(await self._http.get(path, params=clean))

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._check(await self._http.post(path, json=body or {}))

    async def delete(self, path: str) -> Any:
        return self._check(await self._http.delete(path))

    async def aclose(self) -> None:
        await self._http.aclose()

    @staticmethod
    def _check(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            raise ApiError(
                response.status_code,
                str(problem.get("detail") or response.reason_phrase),
                str(problem.get("code") or "error"),
            )
        return response.json() if response.content else None
