"""The dashboard: server-rendered pages (Jinja2, SVG charts) over the API, signed in with an API key that
opens a server-side session (``session`` says how the cookie and the CSRF tokens work).

``create_dashboard(api)`` takes the API's ASGI app (not its services) and reaches data only through it
(``client``): the dashboard sits beside the API in the import layers and shares nothing with it but
HTTP. Pages need no JavaScript; a strict Content-Security-Policy forbids scripts and inline styles.
Buttons that change something (promote, roll back, analyze; approve or reject an autopilot candidate)
are shown to admin keys only, post a form with a CSRF token (as do sign-in and sign-out), and are checked
by the API like any call: a read-only key gets the API's 403.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from promptevolve.dashboard import views
from promptevolve.dashboard.client import ApiClient, ApiError
from promptevolve.dashboard.session import (
    LEGACY_COOKIE,
    Viewer,
    clear_session,
    csrf_token,
    csrf_valid,
    keep_login_csrf,
    login_csrf,
    login_csrf_valid,
    remember_session,
    session_of,
)

__all__ = ["create_dashboard"]

_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

router = APIRouter()


class LoginRequired(Exception):
    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


@dataclass(frozen=True)
class Page:
    """A signed-in request: the API client with the viewer's session, who the viewer is, the base path."""

    request: Request
    api: ApiClient
    viewer: Viewer
    session: str

    @property
    def base(self) -> str:
        return _base(self.request)

    def render(self, name: str, context: dict[str, Any]) -> HTMLResponse:
        return render(self.request, name, {"viewer": self.viewer, **context})


async def _page(request: Request) -> AsyncIterator[Page]:
    session = session_of(request)
    if session is None:
        raise LoginRequired()
    api = ApiClient(request.app.state.api, session)
    try:
        try:
            who = await api.get("/auth/whoami")
        except ApiError as exc:
            if exc.status == 401:
                raise LoginRequired(exc.detail) from None
            raise
        viewer = Viewer(who["name"], who["prefix"], frozenset(who["scopes"]), csrf_token(session))
        yield Page(request, api, viewer, session)
    finally:
        await api.aclose()


PageDep = Annotated[Page, Depends(_page)]


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, {"base": _base(request), **context}, status_code=status)


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(files("promptevolve.dashboard") / "templates"))
    env = templates.env
    env.filters["dt"] = lambda iso: (iso or "")[:19].replace("T", " ") if isinstance(iso, str) else iso
    env.filters["num"] = lambda v, digits=3: "—" if v is None else f"{v:.{digits}f}"
    env.filters["pct"] = lambda v: "—" if v is None else f"{v:g} %"
    env.globals["variant_href"] = views.variant_href
    env.globals["prompt_href"] = views.prompt_href
    return templates


# --- cross-cutting: headers and errors --------------------------------------------------------------


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if not request.url.path.startswith(f"{_base(request)}/static"):
        response.headers["Cache-Control"] = "no-store"
    if LEGACY_COOKIE in request.cookies:
        # Older versions kept the API key itself in this cookie: take it out of the browser.
        response.delete_cookie(LEGACY_COOKIE, path=_base(request) or "/", httponly=True, samesite="strict")
    return response


async def _login_required(request: Request, exc: Exception) -> Response:
    response = RedirectResponse(f"{_base(request)}/login?next={quote(request.url.path)}", status_code=303)
    if isinstance(exc, LoginRequired) and exc.reason:
        clear_session(request, response)
    return response


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return render(request, "error.html", {"status": exc.status, "detail": exc.detail}, exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = "no such page" if exc.status_code == 404 else str(exc.detail)
    return render(request, "error.html", {"status": exc.status_code, "detail": detail}, exc.status_code)


# --- signing in -----------------------------------------------------------------------------------


def _login_page(request: Request, next: str, error: str | None, status: int = 200) -> HTMLResponse:
    token = login_csrf(request)
    response = render(request, "login.html", {"next": next, "error": error, "csrf": token}, status)
    keep_login_csrf(request, response, token)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "") -> HTMLResponse:
    return _login_page(request, next, None)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    key: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    if not login_csrf_valid(request, csrf):
        error = "the sign-in form expired or did not come from this dashboard: sign in again"
        return _login_page(request, next, error, 403)
    api = ApiClient(request.app.state.api, key.strip())
    try:
        opened = await api.post("/auth/sessions")
    except ApiError as exc:
        return _login_page(request, next, exc.detail, 401 if exc.status == 401 else exc.status)
    finally:
        await api.aclose()
    base = _base(request)
    target = next if next.startswith(f"{base}/") and not next.startswith("//") else f"{base}/"
    response = RedirectResponse(target, status_code=303)
    expires = datetime.fromisoformat(opened["expires_at"])
    remember_session(request, response, opened["token"], max(1, int((expires - _now()).total_seconds())))
    return response


def _now() -> datetime:
    return datetime.now(UTC)


@router.post("/logout")
async def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    session = session_of(request)
    if session is not None:
        if not csrf_valid(session, csrf):
            raise HTTPException(403, "the form expired or did not come from this dashboard: reload the page")
        api = ApiClient(request.app.state.api, session)
        try:
            await api.delete("/auth/sessions/current")
        except ApiError as exc:
            if exc.status != 401:  # 401: the session had already ended, which is what was asked
                raise
        finally:
            await api.aclose()
    response = RedirectResponse(f"{_base(request)}/login", status_code=303)
    clear_session(request, response)
    return response


# --- pages ----------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def prompts(page: PageDep) -> HTMLResponse:
    return page.render("prompts.html", await views.prompts_page(page.api))


@router.get("/prompts/{name}", response_class=HTMLResponse)
async def prompt(page: PageDep, name: Annotated[str, Path()]) -> HTMLResponse:
    context = await views.prompt_page(page.api, page.base, name)
    return page.render("prompt.html", {"name": name, **context})


@router.get("/prompts/{name}/variants/{version}", response_class=HTMLResponse)
async def variant(
    page: PageDep,
    name: Annotated[str, Path()],
    version: Annotated[str, Path()],
    window: Annotated[Literal["1h", "6h", "24h", "7d", "30d"], Query()] = "24h",
    metric: Annotated[str, Query()] = "composite",
) -> HTMLResponse:
    if metric not in views.METRICS:
        raise HTTPException(404)
    context = await views.variant_page(page.api, name, version, window=window, metric=metric)
    return page.render("variant.html", {"name": name, **context})


@router.get("/experiments", response_class=HTMLResponse)
async def experiments(page: PageDep) -> HTMLResponse:
    return page.render("experiments.html", await views.experiments_page(page.api))


def _check_csrf(page: Page, token: str) -> None:
    if not csrf_valid(page.session, token):
        raise HTTPException(403, "the form expired or did not come from this dashboard: reload the page")


@router.get("/experiments/{experiment_id}", response_class=HTMLResponse)
async def experiment(page: PageDep, experiment_id: Annotated[int, Path(ge=1)]) -> HTMLResponse:
    return page.render("experiment.html", await views.experiment_page(page.api, experiment_id))


@router.post("/experiments/{experiment_id}/{action}")
async def experiment_action(
    page: PageDep,
    experiment_id: Annotated[int, Path(ge=1)],
    action: Literal["promote", "rollback", "analyze"],
    csrf: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
    arm: Annotated[str, Form()] = "",
) -> Response:
    _check_csrf(page, csrf)
    body: dict[str, Any] = {}
    if action != "analyze":
        body["reason"] = reason.strip() or f"{action} from the dashboard by {page.viewer.name}"
    if action == "promote" and arm:
        body["arm"] = arm
    await page.api.post(f"/experiments/{experiment_id}/{action}", body)
    return RedirectResponse(f"{page.base}/experiments/{experiment_id}?done={action}", status_code=303)


@router.get("/autopilot", response_class=HTMLResponse)
async def autopilot(page: PageDep, done: Annotated[str, Query(max_length=20)] = "") -> HTMLResponse:
    context = await views.autopilot_page(page.api)
    return page.render("autopilot.html", {"done": done, **context})


@router.post("/autopilot/{name}/{action}")
async def autopilot_action(
    page: PageDep,
    name: Annotated[str, Path()],
    action: Literal["approve", "reject"],
    csrf: Annotated[str, Form()],
    version: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    _check_csrf(page, csrf)
    body: dict[str, Any] = {"version": version}
    if action == "reject":
        body["reason"] = reason.strip() or f"rejected from the dashboard by {page.viewer.name}"
    await page.api.post(f"/prompts/{quote(name, safe='')}/autopilot/{action}", body)
    return RedirectResponse(f"{page.base}/autopilot?done={action}", status_code=303)


@router.get("/evolution", response_class=HTMLResponse)
async def evolution(page: PageDep, done: Annotated[str, Query(max_length=20)] = "") -> HTMLResponse:
    return page.render("evolution.html", {"done": done, **await views.evolution_page(page.api)})


@router.post("/jobs/{job_id}/{action}")
async def job_action(
    page: PageDep,
    job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{1,64}$")],
    action: Literal["cancel", "retry"],
    csrf: Annotated[str, Form()],
) -> Response:
    _check_csrf(page, csrf)
    await page.api.post(f"/jobs/{job_id}/{action}", {})
    return RedirectResponse(f"{page.base}/evolution?done={action}", status_code=303)


def create_dashboard(api: ASGIApp) -> FastAPI:
    """The dashboard app; mount it (``/dashboard``) beside the API app it is given."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.api = api
    app.state.templates = _templates()
    app.mount("/static", StaticFiles(packages=[("promptevolve.dashboard", "static")]), name="static")
    app.middleware("http")(_security_headers)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.include_router(router)
    return app
