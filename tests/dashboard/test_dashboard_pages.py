"""The dashboard's pages through the served app: sign-in with an HttpOnly session cookie, every page
rendered from the API with its chart, admin buttons for admin keys only, the API's 403 for anyone else,
CSRF (sessions themselves: ``test_dashboard_sessions``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.api.support import colour_model, make_keys
from tests.dashboard.support import seed_evolution, seed_experiment, seed_prompts, sign_in

from promptevolve.core.settings import Settings
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.server.app import create_app
from promptevolve.store.engine import Store


@dataclass
class Site:
    client: TestClient
    keys: dict[str, str]
    experiment: int
    run_id: str

    def sign_in(self, who: str) -> None:
        self.client.cookies.clear()
        response = sign_in(self.client, self.keys[who])
        assert response.status_code == 303, response.text


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    settings = Settings(database_url=database_url, actor="test", default_provider="scripted")
    store = Store.from_url(database_url)
    keys = make_keys(store)
    app = create_app(settings, providers={"colour": ScriptedProvider(colour_model)})
    with TestClient(app, base_url="http://testserver") as client:
        api = TestClient(
            app, base_url="http://testserver/api/v1", headers={"Authorization": f"Bearer {keys['admin']}"}
        )
        seed_prompts(api)
        experiment = seed_experiment(api, store, settings, rounds=3)
        run_id = seed_evolution(api, store, tmp_path)
        yield Site(client, keys, experiment, run_id)
    store.dispose()


def charts(html: str) -> dict[str, int]:
    return {kind: int(n) for kind, n in re.findall(r'data-chart="(\w+)" data-points="(\d+)"', html)}


def test_signing_in_sets_an_httponly_strict_cookie_and_pages_need_it(site: Site) -> None:
    anonymous = site.client.get("/dashboard/experiments", follow_redirects=False)
    assert (
        anonymous.status_code == 303
        and anonymous.headers["location"] == "/dashboard/login?next=/dashboard/experiments"
    )
    bad = sign_in(site.client, "pe_nope")
    assert bad.status_code == 401 and "malformed API key" in bad.text
    response = sign_in(site.client, site.keys["read"], next="/dashboard/experiments")
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/experiments"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("promptevolve_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    page = site.client.get("/dashboard/experiments")
    assert page.status_code == 200 and "lead_summary: shorter summary" in page.text
    assert (
        "script-src" not in page.headers["content-security-policy"]
        and "default-src 'none'" in page.headers["content-security-policy"]
    )
    token = re.search(r'name="csrf" value="(\w+)"', page.text).group(1)  # type: ignore[union-attr]
    assert (
        site.client.post("/dashboard/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
    )


def test_every_page_renders_from_the_api_with_its_chart(site: Site) -> None:
    site.sign_in("read")
    home = site.client.get("/dashboard/")
    assert home.status_code == 200 and "lead_summary" in home.text and "colours" in home.text
    prompt = site.client.get("/dashboard/prompts/lead_summary")
    assert charts(prompt.text) == {"lineage": 3}
    assert "few_shot" in prompt.text and "held-out 0.820" in prompt.text and "production 0." in prompt.text
    variant = site.client.get("/dashboard/prompts/lead_summary/variants/1.0.0?metric=composite&window=1h")
    assert charts(variant.text)["trend"] >= 1 and "Summarise {{ company }} for sales." in variant.text
    assert "thumbs" in variant.text, "executions show their feedback"
    experiment = site.client.get(f"/dashboard/experiments/{site.experiment}")
    assert charts(experiment.text)["lift"] >= 1
    assert "No sample-ratio mismatch" in experiment.text, experiment.text
    assert 'data-testid="ramp">no ramp' in experiment.text
    log = re.findall(r'<td><span class="tag">(\w+)</span></td>', experiment.text)
    assert log[-2:] == ["start", "create"], "the decision log, newest first"
    evolution = site.client.get("/dashboard/evolution")
    assert site.run_id[:12] in evolution.text and "passed" in evolution.text
    assert site.client.get("/dashboard/prompts/nope").status_code == 404
    assert site.client.get("/dashboard/static/dashboard.css").status_code == 200


def test_admin_buttons_show_for_admin_keys_only_and_the_api_refuses_the_rest(site: Site) -> None:
    site.sign_in("read")
    page = site.client.get(f"/dashboard/experiments/{site.experiment}")
    assert 'data-testid="admin-actions"' not in page.text
    assert f"/dashboard/experiments/{site.experiment}/rollback" not in page.text
    from promptevolve.dashboard.session import COOKIE, csrf_token

    forged = site.client.post(
        f"/dashboard/experiments/{site.experiment}/rollback",
        data={"csrf": csrf_token(site.client.cookies[COOKIE])},
    )
    assert forged.status_code == 403 and "needs the admin scope" in forged.text

    site.sign_in("admin")
    page = site.client.get(f"/dashboard/experiments/{site.experiment}")
    assert 'data-action="promote"' in page.text and 'data-action="rollback"' in page.text
    token = re.search(r'name="csrf" value="(\w+)"', page.text).group(1)  # type: ignore[union-attr]
    assert (
        site.client.post(
            f"/dashboard/experiments/{site.experiment}/rollback", data={"csrf": "x" * 64}
        ).status_code
        == 403
    )
    done = site.client.post(
        f"/dashboard/experiments/{site.experiment}/promote",
        data={"csrf": token, "arm": "treatment"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert 'data-testid="status">concluded' in site.client.get(done.headers["location"]).text
