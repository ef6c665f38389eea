"""The autopilot's candidates table (SQLite and PostgreSQL): each log entry that speaks of a candidate moves
its row in the same transaction, and a database whose candidates exist only as old-style decision-log
entries (revision 0011) upgrades to a table from which the pass picks up the pending candidate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select
from tests.autopilot.support import PROMPT, test_policy
from tests.evolution.support import TEMPLATE

from promptevolve.autopilot import Autopilot, candidates, journal, update_policy
from promptevolve.autopilot.facts import prompt_id
from promptevolve.compose import compose, compose_autopilot
from promptevolve.core.types import ModelSettings
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store
from promptevolve.store.migrate import head_revision, upgrade
from promptevolve.store.tables import AutopilotCandidate, Decision


def _prompt(store: Store, extra: int = 3) -> Registry:
    """Prompt ``colours`` serving 1.0.0, with variants 1.1.0 … 1.``extra``.0 evolved from it."""
    registry = Registry(store, actor="test")
    settings = ModelSettings(provider="sim", max_tokens=5)
    registry.register(VariantCreate(prompt=PROMPT, template=TEMPLATE, settings=settings))
    registry.activate(PROMPT, "1.0.0")
    registry.set_label(PROMPT, "production", "1.0.0")
    for i in range(1, extra + 1):
        system = {"role": "system", "content": f"Say if the colour is warm or cold. ({i})"}
        registry.register(VariantCreate(prompt=PROMPT, template=[system, TEMPLATE[1]], settings=settings))
    return registry


def _autopilot(store: Store) -> Autopilot:
    return compose_autopilot(compose(store, actor="autopilot"))


def _rows(store: Store) -> list[tuple[str, str, int | None]]:
    with store.read() as s:
        found = s.execute(
            select(
                AutopilotCandidate.version, AutopilotCandidate.status, AutopilotCandidate.experiment_id
            ).order_by(AutopilotCandidate.id)
        ).all()
    return [tuple(r) for r in found]  # type: ignore[misc]


def _evolved(version: str, status: str = "passed") -> dict[str, object]:
    return {"run_id": "r", "parent": "1.0.0", "candidate": version, "status": status, "calls": 10}


def test_each_candidate_entry_moves_its_row_in_the_same_write(store):
    _prompt(store)
    pid = prompt_id(store, PROMPT)

    def log(action: str, figures: dict[str, object]) -> None:
        journal.write(store, pid, action, f"{action} {figures.get('candidate')}", figures, actor="t")

    log("evolved", _evolved("1.1.0", "rejected"))
    assert candidates.pending(store, pid) is None, "a candidate that failed the gate never waits"
    log("evolved", _evolved("1.2.0"))
    log("evolved", _evolved("1.3.0"))
    found = candidates.pending(store, pid)
    assert found is not None and (found.version, found.parent, found.approved) == ("1.3.0", "1.0.0", False)
    log("approved", {"candidate": "1.3.0"})
    assert candidates.pending(store, pid).approved  # type: ignore[union-attr]
    log("candidate_rejected", {"candidate": "1.3.0"})
    assert candidates.pending(store, pid).version == "1.2.0", "the older gated one waits again"  # type: ignore[union-attr]
    log("candidate_stale", {"candidate": "1.2.0", "parent": "1.0.0", "serving": "1.1.0"})
    assert candidates.pending(store, pid) is None
    log("skip", {"candidate": "1.2.0"})  # entries of other kinds change nothing
    assert _rows(store) == [
        ("1.1.0", "failed_gate", None),
        ("1.2.0", "stale", None),
        ("1.3.0", "rejected", None),
    ]
    with store.read() as s:
        changed = {
            r.version: (r.decision_id, r.changed_by, r.updated_at)
            for r in s.scalars(select(AutopilotCandidate))
        }
        entries = {d.id: d for d in s.scalars(select(Decision))}
    for proposed, last, at in changed.values():
        assert entries[proposed].action == "evolved" and entries[last].at == at


def test_the_pass_moves_its_candidate_to_testing_with_the_experiment(store):
    _prompt(store)
    pid = prompt_id(store, PROMPT)
    update_policy(Registry(store), PROMPT, test_policy("propose"), actor="test")
    journal.write(store, pid, "evolved", "1.2.0 passed", _evolved("1.2.0"), actor="autopilot")
    autopilot = _autopilot(store)
    steps = autopilot.run_once().prompts[0].steps
    assert [s.action for s in steps] == ["awaiting_approval"]
    step = autopilot.approve(PROMPT, "1.2.0", actor="alice")
    assert step.action == "experiment_started"
    assert _rows(store) == [("1.2.0", "testing", step.experiment_id)]
    assert candidates.pending(store, pid) is None


def test_an_older_database_upgrades_and_the_pass_picks_up_its_pending_candidate(blank_database_url):
    """Revision 0011 kept candidates only as decision-log entries; 0012 replays them into the table."""
    store = Store.from_url(blank_database_url)
    assert upgrade(store, "0011") == "0011"
    registry = _prompt(store, extra=4)
    update_policy(registry, PROMPT, test_policy("propose"), actor="test")
    pid = prompt_id(store, PROMPT)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    old_log = [  # what the 0011 autopilot wrote, oldest first
        ("evolved", _evolved("1.1.0")),
        ("candidate_rejected", {"candidate": "1.1.0"}),
        ("evolved", _evolved("1.2.0", "format_only")),
        ("skip", {"key": "wait_feedback:2"}),
        ("evolved", _evolved("1.3.0")),
        ("candidate_stale", {"candidate": "1.3.0", "parent": "1.0.0", "serving": "1.1.0"}),
        ("evolved", _evolved("1.4.0")),
        ("awaiting_approval", {"candidate": "1.4.0", "key": "await:1.4.0"}),
        ("approved", {"candidate": "1.4.0"}),
    ]
    with store.write() as s:
        s.execute(
            insert(Decision),
            [
                {
                    "prompt_id": pid,
                    "action": action,
                    "reason": action,
                    "figures": figures,
                    "actor": "autopilot",
                    "at": start + timedelta(minutes=i),
                }
                for i, (action, figures) in enumerate(old_log)
            ],
        )

    assert upgrade(store) == head_revision()
    assert _rows(store) == [
        ("1.1.0", "rejected", None),
        ("1.2.0", "failed_gate", None),
        ("1.3.0", "stale", None),
        ("1.4.0", "approved", None),
    ]
    with store.read() as s:
        row = s.scalars(select(AutopilotCandidate).where(AutopilotCandidate.version == "1.4.0")).one()
        assert (row.created_at, row.updated_at) == (
            start + timedelta(minutes=6),
            start + timedelta(minutes=8),
        )
    steps = _autopilot(store).run_once().prompts[0].steps
    assert [s.action for s in steps] == ["experiment_started"], steps
    assert "1.4.0" in steps[0].reason and steps[0].figures["candidate"] == "1.4.0"
    assert _rows(store)[-1] == ("1.4.0", "testing", steps[0].experiment_id)
    store.dispose()
