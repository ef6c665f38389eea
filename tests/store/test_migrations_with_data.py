"""Migrations walked down and up on a database that holds data, on SQLite and PostgreSQL.

The database is filled through the API and the SDK (prompts, variants, labels, an experiment with
exposures, executions, feedback, a dataset, keys, a dashboard session, an autopilot policy and
decision) plus one row in each
table only long processes write (scores, evolutions, the autopilot's lease, budget and drift state,
a job and a webhook delivery), so
every table holds rows. Then each downgrade, one revision at a time, must keep every row of every table
the older schema still has, in the columns it still has; each upgrade back must keep them too; and from
``base`` the upgrade must give exactly the declared schema again.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from tests.store.support import kept, populate, rows

from promptevolve.store.engine import Store
from promptevolve.store.migrate import current_revision, downgrade, head_revision, revisions, upgrade
from promptevolve.store.tables import Base


def test_every_downgrade_and_upgrade_keeps_the_data_its_schema_holds(blank_database_url, tmp_path):
    store = Store.from_url(blank_database_url)
    upgrade(store)
    populate(blank_database_url, tmp_path)
    full = rows(store)
    empty = sorted(t for t, (_, r) in full.items() if not r)
    assert set(full) >= set(Base.metadata.tables) and not empty, f"tables left empty: {empty}"

    chain = revisions()
    assert chain[-1] == head_revision()
    for older in reversed(chain[:-1]):
        before = rows(store)
        assert downgrade(store, older) == older
        assert not kept(before, rows(store)), f"down to {older}: {kept(before, rows(store))}"
    oldest = rows(store)
    assert set(oldest) < set(full)  # the walk went somewhere: later tables are gone
    for newer in chain[1:]:
        before = rows(store)
        assert upgrade(store, newer) == newer
        assert not kept(before, rows(store)), f"up to {newer}: {kept(before, rows(store))}"
    assert not kept(oldest, rows(store))
    # What every revision kept, the upgrades kept too: the tables the first schema has hold what they held.
    assert {t: full[t] for t in oldest} == {t: rows(store)[t] for t in oldest}

    assert downgrade(store, "base") is None
    assert rows(store) == {}
    assert upgrade(store) == head_revision() == current_revision(store)
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    store.dispose()
