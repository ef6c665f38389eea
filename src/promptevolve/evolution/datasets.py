"""Datasets for offline evaluation and evolution: JSONL import, seeded splits, production feedback.

**Items.** One JSON object per JSONL line: ``inputs`` (the template variables, required), ``expected``
(the gold answer: a string, a number or a JSON object; optional when a ``rubric`` says how to judge),
``rubric``, ``id`` (the item key; default ``item-<line number>``), ``locale``, ``split``; every other key
goes to the item's ``meta``. The bundled lead-enrichment file has exactly this shape.

**Splits.** An item whose ``split`` field says ``train``, ``validation`` (or ``val``/``dev``) or ``test``
stays there: a dataset published with its own split is evaluated on that split, not on ours. The other
items are split by ``split_keys`` from a seed alone: items are grouped by stratum (the locale when items
have one), each group is ordered by a keyed hash of (seed, item key) and cut at the fractions, so the
split repeats on any machine and Python version, and a locale is spread over all three splits in
proportion. The seed and fractions are stored with the dataset.

**Production.** ``build_from_production`` turns executions of a prompt into items: an execution with a
``correction`` becomes an item whose expected answer is the correction (a gold label, parsed as JSON when
it is JSON); one with positive feedback (thumbs up, rating ≥ 4, score ≥ 0.8) becomes an item whose
expected answer is the output itself (source ``approved``, also a candidate few-shot demonstration);
negative feedback without a correction says what is wrong but not what is right, so it is counted and
skipped. Executions without stored variables cannot be replayed and are skipped too. At most ``limit``
executions are read, the oldest first (by their time-ordered ids).

Every write is one transaction: a refused import (bad line, name taken) leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Table, Text, cast, delete, func, select

from promptevolve.core.errors import ConflictError, NotFoundError, ValidationError
from promptevolve.core.inputs import parse_json, read_text_file
from promptevolve.core.storable import check_storable
from promptevolve.registry.models import check_name
from promptevolve.store.engine import Store
from promptevolve.store.locks import serialize
from promptevolve.store.tables import Dataset, DatasetItem, Execution, Feedback, PromptVariant
from promptevolve.store.tables import Prompt as PromptRow
from promptevolve.store.writes import insert_rows

__all__ = [
    "DEFAULT_FRACTIONS",
    "SPLITS",
    "DatasetInfo",
    "Example",
    "ItemIn",
    "ProductionReport",
    "build_from_production",
    "get_dataset",
    "import_items",
    "import_jsonl",
    "list_datasets",
    "load_examples",
    "read_jsonl",
    "split_keys",
]

SPLITS: tuple[str, ...] = ("train", "validation", "test")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.5, 0.2, 0.3)
Split = Literal["train", "validation", "test"]
_SPLIT_ALIASES = {"val": "validation", "valid": "validation", "dev": "validation"}


class ItemIn(BaseModel):
    """One dataset item as written in a JSONL file (unknown keys are kept in ``meta``)."""

    model_config = ConfigDict(extra="allow")

    id: str | None = Field(default=None, max_length=200)
    inputs: dict[str, Any]
    expected: Any = None
    rubric: str | None = None
    locale: str | None = Field(default=None, max_length=20)
    split: Split | None = Field(default=None, description="A predefined split; default: the seeded one")

    @field_validator("split", mode="before")
    @classmethod
    def _split_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            lowered = value.strip().lower()
            return _SPLIT_ALIASES.get(lowered, lowered)
        return value

    @field_validator("inputs")
    @classmethod
    def _inputs_not_empty(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("inputs must hold at least one template variable")
        return value

    def meta(self) -> dict[str, Any]:
        extra = dict(self.model_extra or {})
        if self.locale is not None:
            extra["locale"] = self.locale
        return extra


@dataclass(frozen=True, slots=True)
class Example:
    """A stored item, ready to evaluate: the variables, the gold answer or rubric, and where it sits."""

    key: str
    split: str
    inputs: Mapping[str, Any]
    expected: Any = None
    rubric: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def locale(self) -> str | None:
        value = self.meta.get("locale")
        return str(value) if value is not None else None


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    name: str
    description: str | None
    source: str
    seed: int
    fractions: tuple[float, float, float]
    evaluator: str | None
    counts: Mapping[str, int]
    locales: Mapping[str, int]
    created_at: datetime
    predefined: int = 0  # items whose split came from their own ``split`` field

    @property
    def size(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class ProductionReport:
    """What ``build_from_production`` found: the dataset and why executions were left out."""

    dataset: DatasetInfo
    corrections: int
    approved: int
    skipped_negative: int
    skipped_no_variables: int


# --- splitting (pure) -------------------------------------------------------------------------------


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValidationError(
            f"split fractions must be three non-negative numbers (train, validation, test) summing to 1, "
            f"got {list(fractions)}"
        )
    if fractions[2] <= 0:
        raise ValidationError("the test fraction must be above 0: the gate judges on the test split")
    return (float(fractions[0]), float(fractions[1]), float(fractions[2]))


def _order(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\x00{key}".encode()).hexdigest()


def split_keys(
    keys: Sequence[str],
    *,
    seed: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    strata: Mapping[str, str | None] | None = None,
) -> dict[str, str]:
    """item key → split, from the seed alone, stratified by ``strata`` (key → stratum) when given."""
    train_f, validation_f, _ = _check_fractions(fractions)
    groups: dict[str | None, list[str]] = defaultdict(list)
    for key in keys:
        groups[(strata or {}).get(key)].append(key)
    assignment: dict[str, str] = {}
    for members in groups.values():
        ordered = sorted(members, key=lambda k: _order(seed, k))
        n = len(ordered)
        n_train = round(n * train_f)
        n_validation = round(n * (train_f + validation_f)) - n_train
        for i, key in enumerate(ordered):
            assignment[key] = (
                "train" if i < n_train else "validation" if i < n_train + n_validation else "test"
            )
    return assignment


# --- import -----------------------------------------------------------------------------------------


def read_jsonl(lines: Iterable[str], *, source: str = "input") -> list[ItemIn]:
    """Parse JSONL lines into items; a bad line is a ``ValidationError`` naming the line."""
    items: list[ItemIn] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        raw = parse_json(line, f"{source} line {number}")
        if not isinstance(raw, dict):
            raise ValidationError(f"{source} line {number}: expected a JSON object")
        try:
            item = ItemIn(**raw)
        except Exception as exc:  # pydantic's error, named by line
            raise ValidationError(f"{source} line {number}: {exc}") from None
        if item.id is None:
            item.id = f"item-{number}"
        if item.expected is None and item.rubric is None:
            raise ValidationError(f"{source} line {number}: give an expected answer or a rubric")
        items.append(item)
    if not items:
        raise ValidationError(f"{source} holds no items")
    duplicates = [k for k, n in Counter(i.id for i in items).items() if n > 1]
    if duplicates:
        raise ValidationError(f"{source}: duplicate item ids {', '.join(map(str, duplicates[:5]))}")
    return items


def _with_ids(items: Sequence[ItemIn]) -> list[ItemIn]:
    """Items without an id get ``item-N`` (their 1-based position), as a JSONL line gets its number.

    The item key is the split's hash input and unique within a dataset: without one, a caller of
    ``import_items`` from Python met the database's unique index instead of a message.
    """
    named = [
        item if item.id is not None else item.model_copy(update={"id": f"item-{number}"})
        for number, item in enumerate(items, start=1)
    ]
    duplicates = [k for k, n in Counter(i.id for i in named).items() if n > 1]
    if duplicates:
        raise ValidationError(f"duplicate item ids {', '.join(map(str, duplicates[:5]))}")
    return named


def import_jsonl(
    store: Store,
    name: str,
    path: str | Path,
    *,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    description: str | None = None,
    evaluator: str | None = None,
    replace: bool = False,
) -> DatasetInfo:
    """Import a JSONL file as dataset ``name`` with a seeded, locale-stratified split."""
    file = Path(path)
    items = read_jsonl(read_text_file(file, "dataset file").splitlines(), source=str(file))
    return import_items(
        store,
        name,
        items,
        seed=seed,
        fractions=fractions,
        description=description,
        evaluator=evaluator,
        replace=replace,
        source="file",
    )


def import_items(
    store: Store,
    name: str,
    items: Sequence[ItemIn],
    *,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    description: str | None = None,
    evaluator: str | None = None,
    replace: bool = False,
    source: str = "file",
) -> DatasetInfo:
    """Store ``items`` as dataset ``name`` (one transaction); ``replace`` overwrites an existing one."""
    try:
        check_name(name)
    except ValueError as exc:
        raise ValidationError(str(exc).replace("prompt name", "dataset name")) from None
    checked = _check_fractions(fractions)
    items = _with_ids(items)
    keys = [str(i.id) for i in items if i.split is None]
    split = split_keys(keys, seed=seed, fractions=checked, strata={str(i.id): i.locale for i in items})
    split |= {str(i.id): i.split for i in items if i.split is not None}
    predefined = len(items) - len(keys)
    for item in items:  # bulk-inserted below, past store.guard's check: checked here
        for column, value in (("item_key", item.id), ("inputs", item.inputs), ("expected", item.expected)):
            check_storable(f"dataset_items.{column}", value)
        check_storable("dataset_items.rubric", item.rubric)
        check_storable("dataset_items.meta", item.meta())
    with store.write() as s:
        # Concurrent imports of one name: one at a time, so none fails on the unique index.
        serialize(s, f"dataset:{name}")
        existing = s.scalar(select(Dataset).where(Dataset.name == name))
        if existing is not None and not replace:
            raise ConflictError(f"dataset {name!r} already exists: choose another name or replace it")
        if existing is not None:
            s.execute(delete(DatasetItem).where(DatasetItem.dataset_id == existing.id))
            s.delete(existing)
            s.flush()
        row = Dataset(
            name=name,
            description=description,
            source=source,
            seed=seed,
            split={
                "fractions": list(checked),
                "strata": "locale",
                "evaluator": evaluator,
                "predefined": predefined,
            },
        )
        s.add(row)
        s.flush()
        item_table = DatasetItem.__table__
        assert isinstance(item_table, Table)  # a declarative class's table (typed as the wider FromClause)
        # One bulk insert (binary COPY on PostgreSQL, executemany on SQLite) in this transaction: the
        # ORM's unit of work cost ~1 ms an item, most of a 5,000-item production build (BENCHMARKS.md).
        insert_rows(
            s.connection(),
            item_table,
            [
                {
                    "dataset_id": row.id,
                    "item_key": str(i.id),
                    "split": split[str(i.id)],
                    "inputs": i.inputs,
                    "expected": i.expected,
                    "rubric": i.rubric,
                    "meta": i.meta(),
                }
                for i in items
            ],
        )
        s.flush()
        return _info(s, row)


# --- reads ------------------------------------------------------------------------------------------


def list_datasets(store: Store) -> list[DatasetInfo]:
    with store.read() as s:
        return [_info(s, d) for d in s.scalars(select(Dataset).order_by(Dataset.name))]


def get_dataset(store: Store, name: str) -> DatasetInfo:
    with store.read() as s:
        return _info(s, _dataset(s, name))


def load_examples(
    store: Store, name: str, *, split: str | None = None, locale: str | None = None
) -> tuple[Example, ...]:
    """The items of a dataset (one split, one locale, or all), ordered by key."""
    if split is not None and split not in SPLITS:
        raise ValidationError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    with store.read() as s:
        dataset = _dataset(s, name)
        query = select(DatasetItem).where(DatasetItem.dataset_id == dataset.id)
        if split is not None:
            query = query.where(DatasetItem.split == split)
        rows = s.scalars(query.order_by(DatasetItem.item_key)).all()
        examples = tuple(
            Example(r.item_key, r.split, dict(r.inputs), r.expected, r.rubric, dict(r.meta or {}))
            for r in rows
        )
    if locale is not None:
        examples = tuple(e for e in examples if e.locale in (None, locale))
    return examples


def _dataset(s: Any, name: str) -> Dataset:
    row = s.scalar(select(Dataset).where(Dataset.name == name))
    if row is None:
        raise NotFoundError(f"unknown dataset {name!r}: `promptevolve dataset list` shows the known ones")
    return row


def _info(s: Any, row: Dataset) -> DatasetInfo:
    counts = dict(
        s.execute(
            select(DatasetItem.split, func.count())
            .where(DatasetItem.dataset_id == row.id)
            .group_by(DatasetItem.split)
        ).all()
    )
    metas = s.scalars(select(DatasetItem.meta).where(DatasetItem.dataset_id == row.id)).all()
    locales = Counter(str(m.get("locale")) for m in metas if isinstance(m, dict) and m.get("locale"))
    config = row.split or {}
    fractions = tuple(config.get("fractions") or DEFAULT_FRACTIONS)
    return DatasetInfo(
        name=row.name,
        description=row.description,
        source=row.source,
        seed=row.seed,
        fractions=(float(fractions[0]), float(fractions[1]), float(fractions[2])),
        evaluator=config.get("evaluator"),
        counts={sp: int(counts.get(sp, 0)) for sp in SPLITS},
        locales=dict(sorted(locales.items())),
        created_at=row.created_at,
        predefined=int(config.get("predefined") or 0),
    )


# --- production ---------------------------------------------------------------------------------------


def _feedback_verdict(rows: Sequence[tuple[str, float | None, str | None]]) -> tuple[str, str | None]:
    """('correction', text) | ('approved', None) | ('negative', None) | ('none', None)."""
    corrections = [text for kind, _, text in rows if kind == "correction" and text]
    if corrections:
        return "correction", corrections[-1]
    values = [(kind, value) for kind, value, _ in rows if value is not None]
    positive = any(
        (k == "thumbs" and v >= 1.0) or (k == "rating" and v >= 4) or (k == "score" and v >= 0.8)
        for k, v in values
    )
    negative = any(
        (k == "thumbs" and v < 1.0) or (k == "rating" and v <= 2) or (k == "score" and v < 0.5)
        for k, v in values
    )
    if positive and not negative:
        return "approved", None
    return ("negative", None) if negative else ("none", None)


def _gold(text: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, dict | list) else text


def build_from_production(
    store: Store,
    name: str,
    *,
    prompt: str,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    evaluator: str | None = None,
    replace: bool = False,
    limit: int = 5000,
) -> ProductionReport:
    """A dataset from executions of ``prompt`` that received feedback (see the module docstring)."""
    with store.read() as s:
        prompt_row = s.scalar(select(PromptRow).where(PromptRow.name == prompt))
        if prompt_row is None:
            raise NotFoundError(f"unknown prompt {prompt!r}: `promptevolve prompt list` shows the known ones")
        # Only the columns the items need (not whole ORM executions: loading 20,000 of them cost more
        # than the query). The oldest executions with feedback first, in the order of their ids, which
        # are time-ordered (core.ids: creation time in ms first): the database walks feedback's
        # execution index in order and looks each execution up, instead of walking every execution of
        # the prompt and probing feedback for each (~13 for one with feedback at 7.5 % feedback). The
        # variables come as text, decoded only for the executions that become items (a quarter at most).
        rows = s.execute(
            select(
                Execution.id,
                cast(Execution.variables, Text),
                Execution.output,
                Feedback.kind,
                Feedback.value,
                Feedback.text,
                PromptVariant.version,
            )
            .select_from(Feedback)
            .join(Execution, Execution.id == Feedback.execution_id)
            .outerjoin(PromptVariant, PromptVariant.id == Execution.variant_id)
            .where(Execution.prompt_id == prompt_row.id, Execution.status != "error")
            .order_by(Feedback.execution_id, Feedback.ts)
            .limit(limit * 4)
        ).all()
    by_execution: dict[str, list[tuple[str, float | None, str | None]]] = defaultdict(list)
    executions: dict[str, tuple[str | None, str | None, str | None]] = {}
    for execution_id, variables, output, kind, value, text, version in rows:
        by_execution[execution_id].append((kind, value, text))
        executions[execution_id] = (variables, output, version)
    tally: Counter[str] = Counter()
    items: list[ItemIn] = []
    for execution_id, feedback in list(by_execution.items())[:limit]:
        variables_text, output, version_or_none = executions[execution_id]
        verdict, correction = _feedback_verdict(feedback)
        if verdict in ("negative", "none"):
            tally["negative"] += verdict == "negative"
            continue
        inputs = json.loads(variables_text) if variables_text is not None else None
        if not inputs:
            tally["no_variables"] += 1
            continue
        expected = _gold(correction) if correction is not None else _gold(output or "")
        tally[verdict] += 1
        items.append(
            ItemIn.model_validate(
                {
                    "id": f"exec-{execution_id}",
                    "inputs": dict(inputs),
                    "expected": expected,
                    "source": verdict,
                    "execution_id": execution_id,
                    "output": output,
                    "version": version_or_none,
                }
            )
        )
    if not items:
        raise ValidationError(
            f"prompt {prompt!r} has no executions with stored variables and a correction or positive "
            f"feedback ({tally['negative']} negative without correction, "
            f"{tally['no_variables']} without variables)"
        )
    info = import_items(
        store,
        name,
        items,
        seed=seed,
        fractions=fractions,
        evaluator=evaluator,
        replace=replace,
        source="production",
        description=f"built from production feedback on {prompt}",
    )
    return ProductionReport(
        info, tally["correction"], tally["approved"], tally["negative"], tally["no_variables"]
    )
