"""Dashboard sessions, on SQLite and PostgreSQL: the cookie holds a session token, never the key; the
store holds only the token's hash; a session ends at sign-out, at expiry and with its key; every form,
sign-in and sign-out included, carries a CSRF token that is checked; a session opens no other session."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from tests.api.support import make_keys
from tests.dashboard.support import CSRF_INPUT, seed_autopilot, seed_experiment, seed_prompts, sign_in

from promptevolve.access import KeyService
from promptevolve.core.settings import Settings
from promptevolve.dashboard.session import COOKIE, LEGACY_COOKIE, LOGIN_CSRF_COOKIE
from promptevolve.server.app import create_app
from promptevolve.store.engine import Store
from promptevolve.store.tables import SessionToken, utcnow


@dataclass
class Site:
    client: TestClient
    api: TestClient
    store: Store
    keys: dict[str, str]
    experiment: int

    def session(self) -> str:
        return str(self.client.cookies[COOKIE])

    def signed_in(self) -> bool:
        return self.client.get("/dashboard/", follow_redirects=False).status_code == 200

    def bearer(self, token: str) -> int:
        return self.api.get("/auth/whoami", headers={"Authorization": f"Bearer {token}"}).status_code


@pytest.fixture
def site(database_url: str) -> Iterator[Site]:
    settings = Settings(database_url=database_url, actor="test", default_provider="scripted")
    store = Store.from_url(database_url)
    keys = make_keys(store)
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        api = TestClient(
            client.app,
            base_url="http://testserver/api/v1",
            headers={"Authorization": f"Bearer {keys['admin']}"},
        )
        seed_prompts(api)
        experiment = seed_experiment(api, store, settings, rounds=1)
        seed_autopilot(api, store, "lead_summary", "1.1.0")
        yield Site(client, api, store, keys, experiment)
    store.dispose()


def test_the_cookie_holds_a_session_token_and_the_store_only_its_hash(site: Site) -> None:
    response = sign_in(site.client, site.keys["admin"])
    assert response.status_code == 303
    cookies = " ".join(response.headers.get_list("set-cookie"))
    assert site.keys["admin"] not in cookies
    token = site.session()
    assert re.fullmatch(r"ps_[A-Za-z0-9_\-]{43}", token)
    with site.store.read() as s:
        hashes = set(s.scalars(select(SessionToken.token_hash)))
    assert hashlib.sha256(token.encode()).hexdigest() in hashes
    assert not any(token in h for h in hashes)
    assert site.bearer(token) == 200, "the session acts as its key"


def test_signing_out_ends_the_session_for_every_copy_of_the_cookie(site: Site) -> None:
    sign_in(site.client, site.keys["admin"])
    stolen = site.session()
    page = site.client.get("/dashboard/")
    csrf = CSRF_INPUT.search(page.text).group(1)  # type: ignore[union-attr]
    out = site.client.post("/dashboard/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/dashboard/login"
    assert site.bearer(stolen) == 401
    site.client.cookies.set(COOKIE, stolen, path="/dashboard")
    again = site.client.get("/dashboard/", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/dashboard/login")


def test_revoking_the_key_ends_its_sessions(site: Site) -> None:
    sign_in(site.client, site.keys["read"])
    token = site.session()
    assert site.signed_in()
    KeyService(site.store).revoke("reader")
    assert site.bearer(token) == 401
    assert not site.signed_in()
    with site.store.read() as s:
        assert s.scalar(select(SessionToken.revoked_at)) is not None


def test_an_expired_session_signs_the_viewer_out(site: Site) -> None:
    sign_in(site.client, site.keys["read"])
    token = site.session()
    with site.store.write() as s:
        s.execute(update(SessionToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert not site.signed_in()
    assert site.bearer(token) == 401
    assert "expired" in site.api.get("/auth/whoami", headers={"Authorization": f"Bearer {token}"}).text


def test_sign_in_without_its_csrf_token_is_refused_and_opens_no_session(site: Site) -> None:
    site.client.get("/dashboard/login")  # the browser holds a CSRF cookie, but the form is forged
    for forged in ({"key": site.keys["admin"]}, {"key": site.keys["admin"], "csrf": "x" * 43}):
        refused = site.client.post("/dashboard/login", data=forged, follow_redirects=False)
        assert refused.status_code == 403 and "did not come from this dashboard" in refused.text
    site.client.cookies.delete(LOGIN_CSRF_COOKIE)
    token = CSRF_INPUT.search(site.client.get("/dashboard/login").text).group(1)  # type: ignore[union-attr]
    site.client.cookies.delete(LOGIN_CSRF_COOKIE)  # a form from another browser: its cookie is not ours
    refused = site.client.post("/dashboard/login", data={"key": site.keys["admin"], "csrf": token})
    assert refused.status_code == 403
    with site.store.read() as s:
        assert s.scalars(select(SessionToken)).first() is None
    assert COOKIE not in site.client.cookies


def test_sign_out_without_its_csrf_token_is_refused_and_the_session_lives_on(site: Site) -> None:
    sign_in(site.client, site.keys["admin"])
    for forged in ({}, {"csrf": "x" * 64}):
        assert site.client.post("/dashboard/logout", data=forged, follow_redirects=False).status_code == 403
    assert site.signed_in() and site.bearer(site.session()) == 200


def test_every_form_on_every_page_carries_a_csrf_token(site: Site) -> None:
    login = site.client.get("/dashboard/login").text
    pages = [login]
    sign_in(site.client, site.keys["admin"])
    for path in (
        "/dashboard/",
        "/dashboard/prompts/lead_summary",
        "/dashboard/prompts/lead_summary/variants/1.0.0",
        "/dashboard/experiments",
        f"/dashboard/experiments/{site.experiment}",
        "/dashboard/evolution",
        "/dashboard/autopilot",
    ):
        page = site.client.get(path)
        assert page.status_code == 200, path
        pages.append(page.text)
    forms = [f for html in pages for f in re.findall(r"<form\b.*?</form>", html, flags=re.S)]
    posts = [f for f in forms if 'method="post"' in f]
    assert len(posts) >= 6, "sign-in, sign-out, promote, roll back, approve, reject"
    assert all(CSRF_INPUT.search(f) for f in posts), [f[:120] for f in posts if not CSRF_INPUT.search(f)]


def test_a_session_cannot_open_another_and_a_key_is_not_a_session_to_close(site: Site) -> None:
    sign_in(site.client, site.keys["read"])
    as_session = {"Authorization": f"Bearer {site.session()}"}
    again = site.api.post("/auth/sessions", headers=as_session)
    assert again.status_code == 409 and "sign in with an API key" in again.json()["detail"]
    closed_by_key = site.api.delete("/auth/sessions/current")
    assert closed_by_key.status_code == 409 and "keys revoke" in closed_by_key.json()["detail"]
    opened = site.api.post("/auth/sessions", headers={"Authorization": f"Bearer {site.keys['execute']}"})
    assert opened.status_code == 201 and opened.json()["key"]["scopes"] == ["execute"]
    token = opened.json()["token"]
    assert (
        site.api.delete("/auth/sessions/current", headers={"Authorization": f"Bearer {token}"}).status_code
        == 204
    )
    assert site.bearer(token) == 401


def test_a_cookie_left_by_an_older_version_holding_the_key_is_deleted(site: Site) -> None:
    site.client.cookies.set(LEGACY_COOKIE, site.keys["admin"], path="/dashboard")
    response = site.client.get("/dashboard/login")
    deleted = [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{LEGACY_COOKIE}=")]
    assert deleted and ("Max-Age=0" in deleted[0] or "expires=Thu, 01 Jan 1970" in deleted[0])
