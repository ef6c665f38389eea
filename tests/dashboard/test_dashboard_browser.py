"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright against uvicorn on a
free port, with real data (variants, executions and feedback through the SDK, an A/B test with decisions,
an evolution run whose candidate awaits the autopilot's approval). Pages load, charts are drawn (SVG with
marks and a size), an admin promotes a winner and approves the candidate with the buttons, and a
read-only key neither sees the buttons nor gets past the API.

Screenshots go to ``ci-output/screenshots/``; with ``PROMPTEVOLVE_README_SCREENSHOT=1`` the experiment
page is also saved as ``docs/img/dashboard.png`` (the README's picture; off by default so that a test run
leaves the tree clean). Chromium: ``apt-get install -y --no-install-recommends chromium``
(``/usr/bin/chromium``, or ``PROMPTEVOLVE_CHROMIUM``); Playwright's own browser download is not used.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright
from tests import services
from tests.api.support import colour_model, make_keys
from tests.dashboard.support import seed_autopilot, seed_evolution, seed_experiment, seed_prompts

from promptevolve.core.settings import Settings
from promptevolve.dashboard.session import COOKIE, csrf_token
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.server.app import create_app
from promptevolve.store.engine import Store
from promptevolve.store.migrate import open_store

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "ci-output" / "screenshots"
CHROMIUM = services.CHROMIUM
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Live:
    base: str
    keys: dict[str, str]
    experiment: int
    run_id: str
    candidate: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("browser")
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'site.db'}", actor="test", default_provider="scripted"
    )
    store: Store = open_store(settings)
    keys = make_keys(store)
    port = _free_port()
    app = create_app(settings, providers={"colour": ScriptedProvider(colour_model)})
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(
            base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {keys['admin']}"}
        ) as api:
            seed_prompts(api)
            experiment = seed_experiment(api, store, settings, rounds=5, pause_s=1.1)
            run_id = seed_evolution(api, store, tmp)
            run = api.get(f"/evolution/runs/{run_id}").json()
            candidate = next(c["child_version"] for c in run["candidates"] if c["status"] == "passed")
            seed_autopilot(api, store, "colours", candidate)
        yield Live(base, keys, experiment, run_id, candidate)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    missing = services.chromium_missing()
    if missing is not None:  # skipped with the reason in the run's summary; a failure in CI
        if services.required():
            pytest.fail(f"browser tests not run: {missing}")
        pytest.skip(f"browser tests not run: {missing}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def signed_in(browser: Browser, live: Live, who: str) -> Page:
    page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
    page.goto(f"{live.base}/dashboard/")
    expect(page).to_have_url(f"{live.base}/dashboard/login?next=/dashboard/")
    page.fill("#key", live.keys[who])
    page.click("button[type=submit]")
    expect(page.get_by_test_id("scopes")).to_be_visible()
    return page


def assert_drawn(page: Page, kind: str, marks: str) -> None:
    chart = page.locator(f'svg[data-chart="{kind}"]')
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 60
    assert int(chart.get_attribute("data-points") or 0) > 0
    assert chart.locator(marks).count() > 0


def test_pages_load_and_charts_render(browser: Browser, live: Live) -> None:
    page = signed_in(browser, live, "read")
    expect(page.get_by_test_id("prompts")).to_contain_text("lead_summary")
    page.screenshot(path=str(SHOTS / "prompts.png"), full_page=True)

    page.click("text=lead_summary")
    assert_drawn(page, "lineage", "rect")
    expect(page.locator("svg[data-chart=lineage] .edge-label").first).to_have_text("optimized")
    expect(page.locator("svg[data-chart=lineage]")).to_contain_text("held-out 0.820")
    page.screenshot(path=str(SHOTS / "prompt.png"), full_page=True)

    page.goto(f"{live.base}/dashboard/prompts/lead_summary/variants/1.0.0?metric=thumbs&window=1h")
    assert_drawn(page, "trend", "polyline, circle")
    expect(page.get_by_test_id("executions")).to_contain_text("thumbs")
    expect(page.get_by_test_id("template")).to_contain_text("Summarise {{ company }} for sales.")
    page.screenshot(path=str(SHOTS / "variant.png"), full_page=True)

    page.goto(f"{live.base}/dashboard/experiments/{live.experiment}")
    assert_drawn(page, "lift", "polygon, polyline")
    assert int(page.locator("svg[data-chart=lift]").get_attribute("data-points") or 0) >= 3
    expect(page.locator("svg[data-chart=lift] .boundary")).to_have_count(1)
    expect(page.get_by_test_id("srm")).to_contain_text("sample-ratio mismatch")
    expect(page.get_by_test_id("arms")).to_contain_text("1.1.0")
    expect(page.get_by_test_id("decisions")).to_contain_text("start")
    page.screenshot(path=str(SHOTS / "experiment-read.png"), full_page=True)

    page.click("text=Evolution")
    expect(page.get_by_test_id("candidates").first).to_contain_text("passed")
    expect(page.get_by_test_id("jobs")).to_contain_text("succeeded")
    page.screenshot(path=str(SHOTS / "evolution.png"), full_page=True)

    page.click("header nav >> text=Autopilot")
    pilot = page.locator('[data-testid=pilot][data-prompt="colours"]')
    expect(pilot.get_by_test_id("step")).to_have_text("awaiting approval")
    expect(pilot.get_by_test_id("autonomy")).to_have_text("propose")
    expect(pilot.get_by_test_id("budget")).to_contain_text("300 of 300 model calls left")
    expect(pilot.get_by_test_id("candidate")).to_contain_text(live.candidate)
    expect(pilot.get_by_test_id("last-actions")).to_contain_text("evolved")
    expect(page.get_by_test_id("approval")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "autopilot-read.png"), full_page=True)


def test_a_read_only_key_sees_no_admin_button_and_cannot_act(browser: Browser, live: Live) -> None:
    page = signed_in(browser, live, "read")
    page.goto(f"{live.base}/dashboard/experiments/{live.experiment}")
    expect(page.get_by_test_id("status")).to_have_text("running")
    expect(page.get_by_test_id("admin-actions")).to_have_count(0)
    # Even a hand-made form post (with a valid CSRF token for this session) is refused by the API.
    session = next(c["value"] for c in page.context.cookies() if c["name"] == COOKIE)
    assert session.startswith("ps_") and live.keys["read"] not in {c["value"] for c in page.context.cookies()}
    response = page.request.post(
        f"{live.base}/dashboard/experiments/{live.experiment}/promote",
        form={"csrf": csrf_token(session), "arm": "treatment"},
    )
    assert response.status == 403 and "needs the admin scope" in response.text()
    page.goto(f"{live.base}/dashboard/experiments/{live.experiment}")
    expect(page.get_by_test_id("status")).to_have_text("running")


def test_an_admin_promotes_the_treatment_with_the_button(browser: Browser, live: Live) -> None:
    page = signed_in(browser, live, "admin")
    page.goto(f"{live.base}/dashboard/experiments/{live.experiment}")
    expect(page.get_by_test_id("admin-actions")).to_be_visible()
    page.screenshot(path=str(SHOTS / "experiment-admin.png"), full_page=True)
    if os.environ.get("PROMPTEVOLVE_README_SCREENSHOT") == "1":
        (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ROOT / "docs" / "img" / "dashboard.png"), full_page=True)
    page.select_option("select[name=arm]", "treatment")
    page.fill("form[action$=promote] input[name=reason]", "clear enough for the sales team")
    page.click("button[data-action=promote]")
    expect(page.get_by_test_id("status")).to_have_text("concluded")
    expect(page.get_by_test_id("decisions")).to_contain_text("clear enough for the sales team")
    page.screenshot(path=str(SHOTS / "experiment-promoted.png"), full_page=True)
    page.goto(f"{live.base}/dashboard/prompts/lead_summary")
    expect(page.get_by_test_id("versions")).to_contain_text("100 %")


def test_an_admin_approves_the_autopilot_candidate_with_the_button(browser: Browser, live: Live) -> None:
    page = signed_in(browser, live, "admin")
    page.click("header nav >> text=Autopilot")
    pilot = page.locator('[data-testid=pilot][data-prompt="colours"]')
    expect(pilot.get_by_test_id("approval")).to_be_visible()
    page.screenshot(path=str(SHOTS / "autopilot-admin.png"), full_page=True)
    pilot.locator("button[data-action=approve]").click()
    expect(page.get_by_test_id("done")).to_contain_text("Approved")
    expect(pilot.get_by_test_id("step")).to_have_text("ramping")
    expect(pilot.get_by_test_id("last-actions")).to_contain_text("experiment_started")
    expect(page.get_by_test_id("approval")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "autopilot-approved.png"), full_page=True)
