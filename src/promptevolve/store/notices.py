"""Plan-change notices between processes (PostgreSQL ``LISTEN``/``NOTIFY``).

Each SDK process caches serving plans for ``ttl_s`` (``registry.cache``). Without notices, an
activation made by another process (the CLI, the API, the autopilot) reaches it only when the TTL runs
out; with them, at once.

- **Sending** (``install_plan_notices``): a session hook runs after every flush of a PostgreSQL write and,
  when the flush touched a row that a serving plan is built from (a prompt, a variant, its state, a
  label, an experiment or its arms), sends ``pg_notify('promptevolve_plans', <prompt name>)`` on the same
  connection. PostgreSQL delivers a notice only when its transaction commits, and collapses duplicates
  within one transaction: a rolled-back change announces nothing, and no service needs to remember to
  announce.
- **Receiving** (``PlanListener``): one autocommit connection that ``LISTEN``\\s, outside the pool. The
  cache's refresher waits on its socket (``fileno``) and calls ``poll()``; a broken connection raises
  ``StoreUnavailableError`` and the refresher falls back to the TTL until a new listener connects.

SQLite has no notices: ``listener_factory`` returns ``None`` there and the TTL alone applies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session, sessionmaker

from promptevolve.core.errors import StoreUnavailableError
from promptevolve.store.tables import (
    Experiment,
    ExperimentArm,
    Prompt,
    PromptLabel,
    PromptVariant,
    VariantState,
)

__all__ = ["PLAN_CHANNEL", "PlanListener", "install_plan_notices", "listener_factory"]

PLAN_CHANNEL = "promptevolve_plans"

#: The rows a serving plan is read from (``registry.serving.load_plans``) besides ``Prompt`` and
#: ``ExperimentArm``: each names its prompt by ``prompt_id``.
_PROMPT_CHILD_ROWS = (PromptVariant, VariantState, PromptLabel, Experiment)


def install_plan_notices(factory: sessionmaker[Session]) -> None:
    """Announce every committed plan change made through sessions of ``factory`` (PostgreSQL only)."""
    event.listen(factory, "after_flush", _announce)


def _announce(session: Session, _context: Any) -> None:
    prompt_ids: set[int] = set()
    experiment_ids: set[int] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Prompt):
            prompt_ids.add(obj.id)
        elif isinstance(obj, ExperimentArm):
            experiment_ids.add(obj.experiment_id)
        elif isinstance(obj, _PROMPT_CHILD_ROWS):
            prompt_ids.add(obj.prompt_id)
    if not prompt_ids and not experiment_ids:
        return
    conn = session.connection()
    if experiment_ids:
        rows = conn.execute(select(Experiment.prompt_id).where(Experiment.id.in_(experiment_ids)))
        prompt_ids.update(rows.scalars())
    names = conn.execute(select(Prompt.name).where(Prompt.id.in_(prompt_ids))).scalars().all()
    for name in sorted(names):
        conn.execute(text("SELECT pg_notify(:channel, :name)"), {"channel": PLAN_CHANNEL, "name": name})


class PlanListener:
    """A connection that receives plan-change notices; ``poll()`` returns the prompt names announced."""

    def __init__(self, engine_url: Any, connect_args: tuple[Sequence[Any], Mapping[str, Any]]) -> None:
        import psycopg  # only PostgreSQL listens; SQLite users need not have the driver

        args, kwargs = connect_args
        try:
            self._conn = psycopg.connect(*args, **{**kwargs, "autocommit": True, "connect_timeout": 5})
            self._conn.execute(f"LISTEN {PLAN_CHANNEL}")
        except psycopg.Error as exc:
            raise StoreUnavailableError(f"cannot listen for plan changes at {engine_url!r}: {exc}") from exc
        self._error = psycopg.Error

    def fileno(self) -> int:
        return self._conn.fileno()

    def poll(self) -> list[str]:
        """The names announced since the last poll (never waits); raises if the connection broke."""
        try:
            return [n.payload for n in self._conn.notifies(timeout=0)]
        except self._error as exc:
            raise StoreUnavailableError(f"plan-change listener lost its connection: {exc}") from exc

    def close(self) -> None:
        self._conn.close()


def listener_factory(engine: Engine) -> Callable[[], PlanListener] | None:
    """How to open a listener on ``engine``'s database; ``None`` where notices do not exist (SQLite)."""
    if engine.dialect.name != "postgresql":
        return None
    connect_args = engine.dialect.create_connect_args(engine.url)
    safe_url = engine.url.render_as_string(hide_password=True)
    return lambda: PlanListener(safe_url, connect_args)
