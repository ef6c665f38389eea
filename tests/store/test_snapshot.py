"""``Store.snapshot()``: the reads of a block, whichever module makes them, see one state of the database."""

from __future__ import annotations

from sqlalchemy import event, func, select

from promptevolve.store.engine import Store
from promptevolve.store.tables import Prompt


def _prompts(store: Store) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(Prompt)) or 0)


def _add_prompt(store: Store, name: str) -> None:
    with store.write() as s:
        s.add(Prompt(name=name, config={}))


def test_reads_in_a_snapshot_share_one_transaction_and_do_not_see_later_commits(store: Store) -> None:
    _add_prompt(store, "a")
    begins: list[object] = []

    def began(conn: object) -> None:
        begins.append(conn)

    event.listen(store.engine, "begin", began)
    try:
        with store.snapshot():
            assert _prompts(store) == 1
            _add_prompt(store, "b")  # its own transaction, committed while the snapshot is open
            assert _prompts(store) == 1  # the snapshot's reads keep the state of its first read
            with store.snapshot():  # nested: the same transaction
                assert _prompts(store) == 1
        assert len(begins) == 2  # the snapshot and the write, not one per read
    finally:
        event.remove(store.engine, "begin", began)
    assert _prompts(store) == 2


def test_another_stores_reads_do_not_join_the_snapshot(store: Store) -> None:
    other = Store.from_url(store.url)
    try:
        with store.snapshot():
            assert _prompts(store) == 0
            _add_prompt(other, "a")
            assert _prompts(other) == 1
            assert _prompts(store) == 0
    finally:
        other.dispose()
