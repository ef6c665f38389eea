"""The dashboard: server-rendered pages (Jinja2, SVG charts) over the API, signed in with an API key.

``create_dashboard(api)`` takes the API's ASGI app (not its services) and reaches data only through it
(``client``): the dashboard sits beside the API in the import layers and shares nothing with it but
HTTP. Pages need no JavaScript; a strict Content-Security-Policy forbids scripts and inline styles.
Buttons that change something (promote, roll back, analyze) are shown to admin keys only, post a form
with a CSRF token, and are checked by the API like any call: a read-only key gets the API's 403.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib.resources import files
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import Depends, FastAPI, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from promptevolve.dashboard import views
from promptevolve.dashboard.client import ApiClient, ApiError
from promptevolve.dashboard.session import Viewer, clear_key, csrf_token, csrf_valid, key_of, remember_key

__all__ = ["create_dashboard"]

_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


class LoginRequired(Exception):
    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Page:
    """A signed-in request: the API client with the viewer's key, who the viewer is, the base path."""

    request: Request
    api: ApiClient
    viewer: Viewer
    key: str

    @property
    def base(self) -> str:
        return str(self.request.scope.get("root_path", ""))


async def _page(request: Request) -> AsyncIterator[Page]:
    key = key_of(request)
    if key is None:
        raise LoginRequired()
    api = ApiClient(request.app.state.api, key)
    try:
        try:
            who = await api.get("/auth/whoami")
        except ApiError as exc:
            if exc.status == 401:
                raise LoginRequired(exc.detail) from None
            raise
        viewer = Viewer(who["name"], who["prefix"], frozenset(who["scopes"]), csrf_token(key))
        yield Page(request, api, viewer, key)
    finally:
        await api.aclose()


PageDep = Annotated[Page, Depends(_page)]


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(files("promptevolve.dashboard") / "templates"))
    env = templates.env
    env.filters["dt"] = lambda iso: (iso or "")[:19].replace("T", " ") if isinstance(iso, str) else iso
    env.filters["num"] = lambda v, digits=3: "—" if v is None else f"{v:.{digits}f}"
    env.filters["pct"] = lambda v: "—" if v is None else f"{v:g} %"
    env.filters["q"] = lambda v: quote(str(v), safe="")
    env.globals["variant_href"] = views.variant_href
    env.globals["prompt_href"] = views.prompt_href
    return templates


def create_dashboard(api: ASGIApp) -> FastAPI:
    """The dashboard app; mount it (``/dashboard``) beside the API app it is given."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.api = api
    templates = _templates()
    app.mount("/static", StaticFiles(packages=[("promptevolve.dashboard", "static")]), name="static")

    def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        base = str(request.scope.get("root_path", ""))
        return templates.TemplateResponse(request, name, {"base": base, **context}, status_code=status)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if not request.url.path.startswith(f"{request.scope.get('root_path', '')}/static"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: Exception) -> Response:
        base = str(request.scope.get("root_path", ""))
        response = RedirectResponse(f"{base}/login?next={quote(request.url.path)}", status_code=303)
        if isinstance(exc, LoginRequired) and exc.reason:
            clear_key(request, response)
        return response

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return render(request, "error.html", {"status": exc.status, "detail": exc.detail}, exc.status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = "no such page" if exc.status_code == 404 else str(exc.detail)
        return render(request, "error.html", {"status": exc.status_code, "detail": detail}, exc.status_code)

    # --- signing in ---------------------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "") -> HTMLResponse:
        return render(request, "login.html", {"next": next, "error": None})

    @app.post("/login", response_class=HTMLResponse)
    async def login(
        request: Request, key: Annotated[str, Form()], next: Annotated[str, Form()] = ""
    ) -> Response:
        api = ApiClient(request.app.state.api, key.strip())
        try:
            await api.get("/auth/whoami")
        except ApiError as exc:
            return render(request, "login.html", {"next": next, "error": exc.detail}, 401)
        finally:
            await api.aclose()
        base = str(request.scope.get("root_path", ""))
        target = next if next.startswith(f"{base}/") and not next.startswith("//") else f"{base}/"
        response = RedirectResponse(target, status_code=303)
        remember_key(request, response, key.strip())
        return response

    @app.post("/logout")
    def logout(request: Request) -> Response:
        response = RedirectResponse(f"{request.scope.get('root_path', '')}/login", status_code=303)
        clear_key(request, response)
        return response

    # --- pages --------------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    async def prompts(page: PageDep) -> HTMLResponse:
        context = await views.prompts_page(page.api)
        return render(page.request, "prompts.html", {"viewer": page.viewer, **context})

    @app.get("/prompts/{name}", response_class=HTMLResponse)
    async def prompt(page: PageDep, name: Annotated[str, Path()]) -> HTMLResponse:
        context = await views.prompt_page(page.api, page.base, name)
        return render(page.request, "prompt.html", {"viewer": page.viewer, "name": name, **context})

    @app.get("/prompts/{name}/variants/{version}", response_class=HTMLResponse)
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
        return render(page.request, "variant.html", {"viewer": page.viewer, "name": name, **context})

    @app.get("/experiments", response_class=HTMLResponse)
    async def experiments(page: PageDep) -> HTMLResponse:
        context = await views.experiments_page(page.api)
        return render(page.request, "experiments.html", {"viewer": page.viewer, **context})

    @app.get("/experiments/{experiment_id}", response_class=HTMLResponse)
    async def experiment(page: PageDep, experiment_id: Annotated[int, Path(ge=1)]) -> HTMLResponse:
        context = await views.experiment_page(page.api, experiment_id)
        return render(page.request, "experiment.html", {"viewer": page.viewer, **context})

    @app.post("/experiments/{experiment_id}/{action}")
    async def experiment_action(
        page: PageDep,
        experiment_id: Annotated[int, Path(ge=1)],
        action: Literal["promote", "rollback", "analyze"],
        csrf: Annotated[str, Form()],
        reason: Annotated[str, Form()] = "",
        arm: Annotated[str, Form()] = "",
    ) -> Response:
        if not csrf_valid(page.key, csrf):
            raise HTTPException(403, "the form expired or did not come from this dashboard: reload the page")
        body: dict[str, Any] = {}
        if action != "analyze":
            body["reason"] = reason.strip() or f"{action} from the dashboard by {page.viewer.name}"
        if action == "promote" and arm:
            body["arm"] = arm
        await page.api.post(f"/experiments/{experiment_id}/{action}", body)
        return RedirectResponse(f"{page.base}/experiments/{experiment_id}?done={action}", status_code=303)

    @app.get("/evolution", response_class=HTMLResponse)
    async def evolution(page: PageDep) -> HTMLResponse:
        context = await views.evolution_page(page.api)
        return render(page.request, "evolution.html", {"viewer": page.viewer, **context})

    return app
