"""Experiment statuses, and the sets of them the parts decide by, defined once.

The lifecycle (docs/experiments.md): draft → ramping → running → concluded, with paused, stopped and
rolled_back beside it. Several parts ask the same questions of a status: does the experiment route
traffic (``registry.serving`` builds the plan from it; the experiment service lets one such experiment a
prompt start), does it hold its prompt (the autopilot waits for it; the dashboard lists it as live), is
it over. Each part used to keep its own tuple of strings; they live here, below every part that reads
them, so the answers cannot drift apart.

Members are ``StrEnum``: equal to (and hashing like) their stored strings, so ``row.status in LIVE``
holds for a string read from the database. Filters in SQL take ``sql_values(...)``: plain strings, the
same on every driver.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

__all__ = ["LIVE", "ROUTING", "TERMINAL", "ExperimentStatus", "sql_values"]


class ExperimentStatus(StrEnum):
    DRAFT = "draft"
    RAMPING = "ramping"
    RUNNING = "running"
    PAUSED = "paused"
    CONCLUDED = "concluded"
    ROLLED_BACK = "rolled_back"
    STOPPED = "stopped"


#: The experiment's arms decide routing (the contract of ``registry.serving``).
ROUTING = frozenset({ExperimentStatus.RAMPING, ExperimentStatus.RUNNING})
#: The experiment holds its prompt: it routes, or it is paused and waits for a person.
LIVE = ROUTING | {ExperimentStatus.PAUSED}
#: Statuses an experiment never leaves.
TERMINAL = frozenset({ExperimentStatus.CONCLUDED, ExperimentStatus.ROLLED_BACK, ExperimentStatus.STOPPED})


def sql_values(statuses: Iterable[ExperimentStatus]) -> list[str]:
    """The statuses as the plain strings stored in ``experiments.status``, sorted (stable SQL)."""
    return sorted(s.value for s in statuses)
