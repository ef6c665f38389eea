"""The autopilot page through the served app, on SQLite and PostgreSQL: per prompt its autonomy, step,
budget left today and last actions; the approve and reject buttons for admin keys only while a
candidate awaits approval (with the CSRF token), and the API's 403 for anyone else."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from tests.api.support import make_keys
from tests.dashboard.support import seed_autopilot, seed_prompts, sign_in

from promptevolve.core.settings import Settings
from promptevolve.dashboard.session import COOKIE, csrf_token
from promptevolve.server.app import create_app
from promptevolve.store.engine import Store

PAGE = "/dashboard/autopilot"


@dataclass
class Site:
    client: TestClient
    keys: dict[str, str]

    def sign_in(self, who: str) -> str:
        self.client.cookies.clear()
        response = sign_in(self.client, self.keys[who])
        assert response.status_code == 303, response.text
        page = self.client.get(PAGE)
        assert page.status_code == 200, page.text
        return page.text


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
        seed_autopilot(api, store, "lead_summary", "1.1.0")
        yield Site(client, keys)
    store.dispose()


def test_the_page_shows_autonomy_step_budget_and_last_actions_linked_from_the_navigation(site: Site) -> None:
    html = site.sign_in("read")
    assert f'href="{PAGE}">Autopilot</a>' in html
    assert 'data-prompt="lead_summary"' in html
    assert 'data-testid="autonomy">propose' in html and 'data-testid="step">awaiting approval' in html
    assert "300 of 300 model calls left (0 used)" in html
    assert re.search(r'<span class="tag">evolved</span></td><td>1\.1\.0 evolved from 1\.0\.0', html)
    assert 'data-testid="candidate"' in html and "/dashboard/prompts/lead_summary/variants/1.1.0" in html


def test_only_admin_keys_see_the_approve_button_and_approving_starts_the_ab_test(site: Site) -> None:
    html = site.sign_in("read")
    assert 'data-testid="approval"' not in html and "/lead_summary/approve" not in html
    forged = site.client.post(
        f"{PAGE}/lead_summary/approve",
        data={"csrf": csrf_token(site.client.cookies[COOKIE]), "version": "1.1.0"},
    )
    assert forged.status_code == 403 and "needs the admin scope" in forged.text

    html = site.sign_in("admin")
    assert 'data-action="approve"' in html and 'data-action="reject"' in html
    assert 'name="version" value="1.1.0"' in html
    expired = site.client.post(f"{PAGE}/lead_summary/approve", data={"csrf": "x" * 64, "version": "1.1.0"})
    assert expired.status_code == 403 and 'data-testid="step">awaiting approval' in site.client.get(PAGE).text
    token = re.search(r'name="csrf" value="(\w+)"', html).group(1)  # type: ignore[union-attr]
    wrong = site.client.post(f"{PAGE}/lead_summary/approve", data={"csrf": token, "version": "9.9.9"})
    assert wrong.status_code == 404 and "the candidate waiting is 1.1.0" in wrong.text
    done = site.client.post(
        f"{PAGE}/lead_summary/approve", data={"csrf": token, "version": "1.1.0"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"{PAGE}?done=approve"
    after = site.client.get(done.headers["location"]).text
    assert 'data-testid="done"' in after and 'data-testid="step">ramping' in after
    assert 'data-testid="approval"' not in after, "nothing awaits approval any more"
    assert '<span class="tag">experiment_started</span>' in after and "key:admin" in after


def test_an_admin_rejects_a_candidate_with_a_reason(site: Site) -> None:
    html = site.sign_in("admin")
    token = re.search(r'name="csrf" value="(\w+)"', html).group(1)  # type: ignore[union-attr]
    done = site.client.post(
        f"{PAGE}/lead_summary/reject",
        data={"csrf": token, "version": "1.1.0", "reason": "too terse for sales"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    after = site.client.get(done.headers["location"]).text
    assert 'data-testid="step">idle' in after and "too terse for sales" in after
    assert '<span class="tag">candidate_rejected</span>' in after
