"""The records the SDK hands to tracking: one type per table it writes, built once, never changed.

A call produces up to three records: its ``ExecutionRecord`` (one per attempt, failed ones included),
an ``ExposureRecord`` when an experiment routed it, and a ``ScoreRecord`` (``format_valid``) for a JSON
answer. The recorder routes each by its type to its table (``Recorder.record``); nothing outside
tracking names a table or a column.

They are ``NamedTuple``\\ s, in the column order of their tables: frozen, and the cheapest immutable
object Python builds (positional construction of the 21-field execution costs less than the dict it
replaced; a frozen slots dataclass sets each field through ``object.__setattr__``, seven times as much,
and pydantic more still). ``execution_record`` applies ``core.storable`` (what a store cannot hold is
repaired and the repair recorded) and hashes the unit and the variables, so a record is storable as
built.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, NamedTuple

from promptevolve.core.storable import Repairs, storable_json
from promptevolve.store.writes import JsonText

__all__ = [
    "RECORD_TYPES",
    "ExecutionRecord",
    "ExposureRecord",
    "Record",
    "ScoreRecord",
    "execution_record",
    "record_from_row",
    "row_of",
    "table_of",
    "unit_hash",
]


class ExecutionRecord(NamedTuple):
    """One attempt of a call (``run``), or a call the application made itself (``track``)."""

    id: str
    prompt_id: int | None
    variant_id: int | None
    experiment_id: int | None
    arm: str | None
    unit_hash: str | None
    variables_hash: str | None
    #: The variables' canonical JSON text (the text hashed), or None when variables are not stored.
    variables: JsonText | None
    output: str | None
    model: str | None
    latency_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    status: str
    fallback_reason: str | None
    error_class: str | None
    error_message: str | None
    source: str
    ts: float
    #: What ``core.storable`` changed to make the record storable, or None.
    repairs: str | None


class ExposureRecord(NamedTuple):
    """A unit routed to an experiment's arm (recorded whether or not the call then succeeds)."""

    id: str
    experiment_id: int
    arm: str
    variant_id: int | None
    unit_hash: str | None
    ts: float


class ScoreRecord(NamedTuple):
    """A metric of one execution computed on the call path (``format_valid`` of a JSON answer)."""

    id: str
    execution_id: str
    metric: str
    value: float
    detail: str | None
    ts: float


Record = ExecutionRecord | ExposureRecord | ScoreRecord

#: Each record type and its table, in write order: parents (executions) before the rows naming them.
RECORD_TYPES: dict[type[Record], str] = {
    ExecutionRecord: "executions",
    ExposureRecord: "exposures",
    ScoreRecord: "scores",
}
_BY_TABLE: dict[str, type[Record]] = {table: kind for kind, table in RECORD_TYPES.items()}


def table_of(record: Record) -> str:
    return RECORD_TYPES[type(record)]


def row_of(record: Record) -> dict[str, Any]:
    """The record as a row: column name → value."""
    return dict(zip(record._fields, record, strict=False))  # a record always has its fields


def record_from_row(table: str, row: Mapping[str, Any]) -> Record:
    """The record a row was made from (``row_of``'s inverse; a writer that spills rows back)."""
    return _BY_TABLE[table](**row)


def unit_hash(unit_id: str | None) -> str | None:
    """Units are stored hashed: analysis needs identity, not the raw user or lead id."""
    if unit_id is None:
        return None
    # surrogatepass: the same bytes as UTF-8 for every valid id, and no crash on a broken one.
    return hashlib.blake2b(str(unit_id).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def execution_record(
    execution_id: str,
    prompt_id: int | None,
    variant_id: int | None,
    experiment_id: int | None,
    arm: str | None,
    unit_id: str | None,
    variables: Mapping[str, Any],
    output: str | None,
    model: str | None,
    latency_ms: float | None,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    cost_usd: float | None,
    status: str,
    fallback_reason: str | None,
    error_class: str | None,
    error_message: str | None,
    source: str,
    ts: float,
    store_variables: bool,
) -> ExecutionRecord:
    """An execution made storable (``core.storable``): the unit hashed, the variables' canonical JSON
    hashed (and kept, unless ``store_variables`` is False), text with NUL or lone surrogates repaired,
    and what was repaired recorded with it. Positional on purpose: it runs once per attempt, and
    keyword calls of this width cost a microsecond more; callers name each argument in a comment."""
    # Most records need no repair: each value is checked inline (ASCII without NUL is storable as it
    # is) and ``Repairs`` is made only for one that may (a few calls fewer per record, on every call).
    variables_json = storable_json(variables)
    repairs: Repairs | None = None
    if variables_json is None:
        repairs = Repairs()
        variables_json = repairs.json("variables", variables)[1]
    if not (output is None or (output.isascii() and "\x00" not in output)):
        repairs = repairs or Repairs()
        output = repairs.text("output", output)
    if not (model is None or (model.isascii() and "\x00" not in model)):
        repairs = repairs or Repairs()
        model = repairs.text("model", model)
    if not (error_message is None or (error_message.isascii() and "\x00" not in error_message)):
        repairs = repairs or Repairs()
        error_message = repairs.text("error_message", error_message)
    return ExecutionRecord(
        execution_id,
        prompt_id,
        variant_id,
        experiment_id,
        arm,
        unit_hash(unit_id),
        hashlib.sha256(variables_json.encode()).hexdigest(),
        # The canonical text just hashed (sorted keys): the writer stores it without encoding again.
        JsonText(variables_json) if store_variables else None,
        output,
        model,
        latency_ms,
        prompt_tokens,
        completion_tokens,
        cost_usd,
        status,
        fallback_reason,
        error_class,
        error_message,
        source,
        ts,
        repairs.summary() if repairs is not None else None,
    )
