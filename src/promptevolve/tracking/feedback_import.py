"""Importing feedback that already lives elsewhere: CSV or JSONL rows keyed by execution id.

Every row is validated on its own; a bad row is reported with its line number and reason and the good
rows are kept, written in one transaction. Columns (CSV header or JSON keys): ``execution_id`` and any
of ``thumbs`` (up/down, true/false, 1/0), ``rating`` (1–5), ``score`` (0–1), ``correction``, ``comment``,
``source`` (user/evaluator/judge), ``created_by``. Unknown columns are an error of the row, not ignored:
a typo such as ``ratng`` must not silently drop a team's ratings; a CSV row with more values than the
header has columns is refused too (the extra values would otherwise be lost without a word).

**Importing is idempotent.** Each feedback item carries a key: a hash of its row's validated content
(execution id and values, so ``up`` and ``true`` are the same row) and its kind, unique in the store.
Importing a file again, or a file that repeats rows, stores each row once; the report counts the rows
already there. The file is decoded and parsed by ``core.inputs`` (not UTF-8, bad JSON, numbers or
nesting too large: a clear error, never a traceback).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from promptevolve.core.errors import ValidationError
from promptevolve.core.inputs import parse_json, read_text_file
from promptevolve.store.engine import Store
from promptevolve.tracking.feedback import FeedbackIn, existing_execution_ids, record_feedback_once

__all__ = ["ImportReport", "import_feedback", "parse_feedback_rows"]

_COLUMNS = set(FeedbackIn.model_fields)
_THUMBS = {
    "up": True,
    "down": False,
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "yes": True,
    "no": False,
    "👍": True,
    "👎": False,
}


@dataclass(frozen=True)
class ImportReport:
    imported_rows: int
    feedback_written: int
    rejected: list[tuple[int, str]]
    #: Rows whose feedback was already stored (an earlier import of the same rows): skipped.
    already_imported: int = 0


def _clean(raw: dict[Any, Any]) -> dict[str, Any]:
    if None in raw:  # csv.DictReader files values beyond the header's columns under the key None
        extra = raw[None]
        raise ValueError(
            f"{len(extra)} more value{'s' if len(extra) > 1 else ''} than the header has columns: "
            f"{', '.join(repr(v) for v in extra[:3])}"
        )
    row = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in raw.items() if k is not None}
    row = {k: v for k, v in row.items() if v not in ("", None)}
    unknown = set(row) - _COLUMNS
    if unknown:
        raise ValueError(
            f"unknown column(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_COLUMNS))}"
        )
    thumbs = row.get("thumbs")
    if isinstance(thumbs, str):
        if thumbs.lower() not in _THUMBS:
            raise ValueError(f"thumbs must be up/down, true/false or 1/0, got {thumbs!r}")
        row["thumbs"] = _THUMBS[thumbs.lower()]
    return row


def _describe(exc: Exception) -> str:
    if isinstance(exc, pydantic.ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors())
    return str(exc)


def _records(path: Path) -> list[tuple[int, dict[str, Any] | Exception]]:
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".json", ".csv"):
        raise ValidationError(f"{path}: unsupported file type {path.suffix!r}; use .csv or .jsonl")
    text = read_text_file(path, "feedback file")
    if suffix == ".csv":
        return _csv_records(path, text)
    out: list[tuple[int, dict[str, Any] | Exception]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = parse_json(line, "the line")
        except ValidationError as exc:
            out.append((line_no, ValueError(str(exc))))
            continue
        out.append((line_no, value if isinstance(value, dict) else ValueError("not a JSON object")))
    return out


def _csv_records(path: Path, text: str) -> list[tuple[int, dict[str, Any] | Exception]]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        fieldnames = reader.fieldnames
        if not fieldnames or "execution_id" not in [f.strip() for f in fieldnames]:
            raise ValidationError(f"{path}: the CSV header must include execution_id")
        # line_num: the physical line a row ended on (quoted values may span lines)
        return [(reader.line_num, dict(row)) for row in reader]
    except csv.Error as exc:
        raise ValidationError(f"{path}, line {reader.line_num}: not readable as CSV: {exc}") from None


def parse_feedback_rows(path: Path) -> tuple[list[tuple[int, FeedbackIn]], list[tuple[int, str]]]:
    """Good rows (line, feedback) and rejected rows (line, reason)."""
    if not path.is_file():
        raise ValidationError(f"feedback file {str(path)!r} does not exist")
    good: list[tuple[int, FeedbackIn]] = []
    bad: list[tuple[int, str]] = []
    for line_no, raw in _records(path):
        if isinstance(raw, Exception):
            bad.append((line_no, str(raw)))
            continue
        try:
            good.append((line_no, FeedbackIn(**_clean(raw))))
        except (ValueError, pydantic.ValidationError) as exc:
            bad.append((line_no, _describe(exc)))
    return good, bad


def import_feedback(store: Store, path: Path) -> ImportReport:
    """Validate every row, reject those naming unknown executions, write the rest in one transaction;
    rows already imported (same content) are skipped and counted."""
    good, bad = parse_feedback_rows(path)
    known = existing_execution_ids(store, [f.execution_id for _, f in good])
    keep = []
    for line_no, item in good:
        if item.execution_id in known:
            keep.append(item)
        else:
            bad.append((line_no, f"unknown execution id {item.execution_id!r}"))
    written, new_rows = record_feedback_once(store, keep) if keep else (0, 0)
    return ImportReport(
        imported_rows=new_rows,
        feedback_written=written,
        rejected=sorted(bad),
        already_imported=len(keep) - new_rows,
    )
