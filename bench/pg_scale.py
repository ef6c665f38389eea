"""Ten million executions: how fast they load, and what the reads people wait for cost at that size.

Question: with a month of production traffic in the store (default 10M executions, with their scores,
exposures and feedback), do the analysis paths still answer in under a second? The data is synthetic but
shaped like the SDK writes it, loaded through the store's own bulk writer (binary COPY on PostgreSQL,
executemany on SQLite), in time order (as production inserts it):

- 30 days; half the calls go to the prompt ``leads`` (JSON answers: a ``format_valid`` score per call,
  units = 500k leads making ~10 calls each), the other half to four other prompts (text answers);
- on day 10 an A/B experiment starts on ``leads`` (1.0.0 vs 1.1.0, no ramp): from then on every
  ``leads`` call is an experiment call with its exposure row;
- statuses 96 % ok, 2.5 % fallback, 1.5 % error; feedback on ~7.5 % of calls (5 % thumbs, 2 % ratings,
  0.5 % corrections).

Timed, each through the code the product runs (first call, then the best of ``--repeat`` more; for the
analysis and the trend the first call builds their rollups, migration 0009):

1. an experiment's analysis: ``ExperimentService.analyze(apply=False)`` (what ``ab status`` and
   ``GET /experiments/{id}`` compute: exposures per arm, the primary metric (composite) and three
   guardrails' per-arm sums over 20 days of experiment calls);
2. a variant's trend over 30 days: ``api.queries.variant_trend`` (composite, 30 daily buckets);
3. the executions list with filters and pagination: ``tracking.executions.list_executions`` as
   ``GET /executions`` calls it (51 rows for a page of 50), four typical filters;
4. a dataset built from production feedback: ``evolution.datasets.build_from_production`` (5,000 items).

The schema is made by the migrations (so the indexes are the product's); PostgreSQL runs in a schema
of its own in the database ``test`` at 127.0.0.1 (dropped at the end unless ``--keep``), SQLite in a
file in a temporary directory.

``--fresh N`` also writes N new calls (and late feedback on N/10 older ones) before the reads, when no
rollup exists yet, and twice after them, timing each write and the analysis and trend that follow
(their refresh from the change log): the write path's cost of the rollups, and a look's cost between
two looks.

    python bench/pg_scale.py [--rows 10000000] [--sqlite] [--keep] [--batch 50000] [--repeat 2]
                             [--fresh 10000] [--reuse SCHEMA]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from promptevolve.api.queries import variant_trend
from promptevolve.compose import compose
from promptevolve.core.protocols import ManualClock
from promptevolve.core.types import ModelSettings
from promptevolve.evolution.datasets import build_from_production
from promptevolve.experiments.models import ExperimentCreate
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store
from promptevolve.store.migrate import upgrade
from promptevolve.store.tables import Execution, Experiment, Exposure, Feedback, Prompt, Rollup, Score
from promptevolve.store.writes import bulk_insert
from promptevolve.tracking.executions import ExecutionFilter, list_executions

POSTGRES = os.environ.get(
    "PROMPTEVOLVE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DAY = 86_400.0
DAYS = 30
EXPERIMENT_DAY = 10
LEAD_UNITS = 500_000
OTHER_PROMPTS = ("support-reply", "summarise-ticket", "classify-email", "draft-followup")
LEAD_OUTPUT = (
    '{{"industry": "{industry}", "size_band": "11-50", "ai_maturity": {maturity}, "growth_signals": '
    '["hiring"], "recommended_pitch": "Automate contract review with AI to close deals faster."}}'
)
TEXT_OUTPUT = (
    "Thank you for reaching out. We looked into your request and the issue comes from a setting in your "
    "workspace; here is how to change it, and what to expect once it is done. Reply if anything is unclear."
)
INDUSTRIES = ("software", "retail", "logistics", "finance", "health")
COUNTRIES = ("FR", "DE", "US", "GB", "ES", "IT")


@dataclass(frozen=True)
class World:
    """The registry rows the synthetic traffic points at."""

    leads_id: int
    control_id: int
    treatment_id: int
    others: tuple[tuple[int, int], ...]  # (prompt id, variant id)
    experiment_id: int
    t0: float
    now: float


# --- setting up ---------------------------------------------------------------------------------------


def _pg_url(schema: str, timeout_s: int) -> str:
    return f"{POSTGRES}?options={quote(f'-csearch_path={schema} -cstatement_timeout={timeout_s * 1000}')}"


@contextlib.contextmanager
def open_store(use_sqlite: bool, keep: bool, timeout_s: int, reuse: str | None) -> Iterator[Store]:
    if use_sqlite:
        tmp = tempfile.mkdtemp(prefix="pg_scale_")
        path = reuse or os.path.join(tmp, "scale.db")  # --reuse: the file a --keep run printed
        keep = keep or reuse is not None
        store = Store.from_url(f"sqlite:///{path}")
        try:
            yield store
        finally:
            store.engine.dispose()
            if keep:
                print(f"kept: {path}")
            else:
                for name in os.listdir(tmp):
                    os.remove(os.path.join(tmp, name))
                os.rmdir(tmp)
        return
    schema = reuse or f"scale_{uuid.uuid4().hex[:8]}"
    keep = keep or reuse is not None
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    if reuse is None:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    store = Store.from_url(_pg_url(schema, timeout_s))
    try:
        yield store
    finally:
        store.engine.dispose()
        if keep:
            print(f"kept: schema {schema} in {POSTGRES}")
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_world(store: Store, now: float) -> World:
    t0 = now - DAYS * DAY
    registry = Registry(store, actor="bench")
    json_settings = ModelSettings(provider="scripted", response_format="json")
    for version_text in (
        "Enrich {{ company_name }} ({{ website }}, {{ country }}): {{ description }}",
        "Enrich this lead as JSON. {{ company_name }}, {{ website }}, {{ country }}: {{ description }}",
    ):
        registry.register(VariantCreate(prompt="leads", template=version_text, settings=json_settings))
    registry.activate("leads", "1.0.0")
    others = []
    for name in OTHER_PROMPTS:
        variant = registry.register(VariantCreate(prompt=name, template="Answer: {{ question }}")).variant
        registry.activate(name, "1.0.0")
        others.append(variant.id)
    with store.read() as s:
        ids = dict(s.execute(select(Prompt.name, Prompt.id)).all())
    clock = ManualClock(t0 + EXPERIMENT_DAY * DAY)
    service = compose(store, actor="bench", clock=clock).experiments
    exp = service.create(
        ExperimentCreate(prompt="leads", control="1.0.0", treatments=["1.1.0"], ramp=[], seed="bench")
    )
    service.start(exp.id)
    return World(
        leads_id=ids["leads"],
        control_id=registry.get_variant("leads", "1.0.0").id,
        treatment_id=registry.get_variant("leads", "1.1.0").id,
        others=tuple(zip((ids[n] for n in OTHER_PROMPTS), others, strict=True)),
        experiment_id=exp.id,
        t0=t0,
        now=now,
    )


def find_world(store: Store) -> World:
    """The world of a schema loaded by an earlier ``--keep`` run (``--reuse``)."""
    registry = Registry(store, actor="bench")
    with store.read() as s:
        ids = dict(s.execute(select(Prompt.name, Prompt.id)).all())
        experiment_id = s.scalar(select(Experiment.id).where(Experiment.prompt_id == ids["leads"]))
        t0 = s.scalar(select(func.min(Execution.ts)))
    others = tuple((ids[n], registry.get_variant(n, "1.0.0").id) for n in OTHER_PROMPTS)
    return World(
        leads_id=ids["leads"],
        control_id=registry.get_variant("leads", "1.0.0").id,
        treatment_id=registry.get_variant("leads", "1.1.0").id,
        others=others,
        experiment_id=experiment_id,
        t0=t0,
        now=t0 + DAYS * DAY,
    )


# --- the synthetic month ------------------------------------------------------------------------------


def _status(r: float) -> tuple[str, str | None, str | None, str | None]:
    if r < 0.96:
        return "ok", None, None, None
    if r < 0.985:
        return "fallback", "variant_failed", None, None
    return "error", "provider_error", "promptevolve.core.errors.ProviderTimeoutError", "the model took > 30 s"


def batch_rows(world: World, start: int, count: int, total: int, rng: random.Random) -> dict[str, list]:
    """Rows ``start .. start+count`` of ``total``, spread evenly over the month in time order."""
    out: dict[str, list] = {"executions": [], "scores": [], "exposures": [], "feedback": []}
    step = DAYS * DAY / total
    exp_start = world.t0 + EXPERIMENT_DAY * DAY
    for i in range(start, start + count):
        ts = world.t0 + i * step
        execution_id = f"{int(ts * 1000):012x}{i:020x}"
        status, reason, error_class, error_message = _status(rng.random())
        if rng.random() < 0.5:  # leads
            unit = rng.randrange(LEAD_UNITS)
            unit_hash = f"{unit:032x}"
            in_experiment = ts >= exp_start
            arm = ("control", "treatment")[unit % 2] if in_experiment else None
            variant_id = world.treatment_id if arm == "treatment" else world.control_id
            prompt_id, experiment_id = world.leads_id, world.experiment_id if in_experiment else None
            variables: dict[str, Any] | None = {
                "company_name": f"Company {unit}",
                "website": f"company{unit}.example",
                "country": COUNTRIES[unit % 6],
                "description": "A mid-sized company that sells software to law firms.",
            }
            output = LEAD_OUTPUT.format(industry=INDUSTRIES[unit % 5], maturity=1 + unit % 5)
            if in_experiment:
                out["exposures"].append(
                    {
                        "id": execution_id,
                        "experiment_id": experiment_id,
                        "arm": arm,
                        "variant_id": variant_id,
                        "unit_hash": unit_hash,
                        "ts": ts,
                    }
                )
            if status != "error":
                out["scores"].append(
                    {
                        "id": execution_id,
                        "execution_id": execution_id,
                        "metric": "format_valid",
                        "value": float(rng.random() < 0.97),
                        "detail": None,
                        "ts": ts,
                    }
                )
        else:
            prompt_id, variant_id = world.others[i % len(world.others)]
            experiment_id, arm, unit_hash = None, None, None
            variables = {"question": f"question {i % 10_000}"}
            output = TEXT_OUTPUT
        if status == "error":
            output = None
        out["executions"].append(
            {
                "id": execution_id,
                "prompt_id": prompt_id,
                "variant_id": variant_id,
                "experiment_id": experiment_id,
                "arm": arm,
                "unit_hash": unit_hash,
                "variables_hash": f"{hash(str(variables)) & (2**128 - 1):064x}",
                "variables": variables,
                "output": output,
                "model": "smollm2-135m-instruct",
                "latency_ms": 400.0 + 800.0 * rng.random(),
                "prompt_tokens": 700 + i % 100,
                "completion_tokens": 80 + i % 40,
                "cost_usd": 0.0002,
                "status": status,
                "fallback_reason": reason,
                "error_class": error_class,
                "error_message": error_message,
                "source": "run",
                "ts": ts,
            }
        )
        if status != "error":
            out["feedback"] += _feedback(execution_id, ts, output, arm, rng)
    return out


def _feedback(execution_id: str, ts: float, output: str | None, arm: str | None, rng: random.Random) -> list:
    r = rng.random()
    if r >= 0.075:
        return []
    row = {
        "id": "f" + execution_id[1:],
        "execution_id": execution_id,
        "text": None,
        "source": "user",
        "created_by": None,
        "ts": ts + 60.0,
    }
    if r < 0.05:
        up = 0.72 if arm == "treatment" else 0.70
        return [{**row, "kind": "thumbs", "value": float(rng.random() < up)}]
    if r < 0.07:
        return [{**row, "kind": "rating", "value": float(rng.randint(1, 5))}]
    corrected = output if rng.random() < 0.3 else (output or "") + " (corrected)"
    return [{**row, "kind": "correction", "value": None, "text": corrected}]


TABLES = {"executions": Execution, "scores": Score, "exposures": Exposure, "feedback": Feedback}


def load(store: Store, world: World, total: int, batch: int) -> tuple[dict[str, int], float, float]:
    """Load every row; returns rows per table, seconds generating rows and seconds writing them."""
    rng = random.Random(7)
    counts = dict.fromkeys(TABLES, 0)
    made = wrote = 0.0
    reported = time.perf_counter()
    for start in range(0, total, batch):
        t = time.perf_counter()
        rows = batch_rows(world, start, min(batch, total - start), total, rng)
        made += time.perf_counter() - t
        t = time.perf_counter()
        for name, model in TABLES.items():  # executions first: feedback and scores reference them
            counts[name] += bulk_insert(store, model.__table__, rows[name])
        wrote += time.perf_counter() - t
        if time.perf_counter() - reported > 30:
            reported = time.perf_counter()
            done = start + batch
            print(
                f"  {done:,} executions, {done / (made + wrote):,.0f}/s, {os.getloadavg()[0]:.1f} load",
                flush=True,
            )
    return counts, made, wrote


def fresh_traffic(store: Store, world: World, n: int, round_: int, rng: random.Random) -> tuple[int, float]:
    """``n`` new calls in the month's last hour (with their scores, exposures and feedback) and late
    feedback on ``n // 10`` calls of its last day, as production adds them between two looks; returns
    (rows written, seconds writing them)."""
    # The last n of `total` calls spread over the month: the last 1/(round + 2) hour, with indexes (in
    # the ids) above the load's and apart from other rounds'.
    total = n * 720 * (round_ + 2) + uuid.uuid4().int % 100_000  # apart from earlier runs' too
    rows = batch_rows(world, total - n, n, total, rng)
    with store.read() as s:
        recent = s.scalars(
            select(Execution.id)
            .where(Execution.ts >= world.now - DAY, Execution.status != "error")
            .order_by(Execution.ts)
            .limit(n)
        ).all()
    for execution_id in recent[round_::10]:
        row = {"execution_id": execution_id, "text": None, "source": "user", "created_by": None}
        rows["feedback"].append(
            {**row, "id": f"g{uuid.uuid4().hex[:31]}", "kind": "thumbs", "value": 1.0, "ts": world.now}
        )
    t = time.perf_counter()
    written = sum(bulk_insert(store, model.__table__, rows[name]) for name, model in TABLES.items())
    return written, time.perf_counter() - t


# --- the reads ----------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeat: int, *, always: bool = False) -> tuple[float, float, Any]:
    """(first call, best of ``repeat`` more) in seconds, and the first call's result; a first call over
    30 s is not repeated unless ``always`` (a read whose first call builds its rollups)."""
    t = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t
    rest = []
    for _ in range(repeat if first < 30 or always else 0):  # a read that slow is reported once
        t = time.perf_counter()
        fn()
        rest.append(time.perf_counter() - t)
    return first, min(rest) if rest else first, result


#: The reads served by rollups: their first call builds them, later calls refresh and read them.
ROLLED_UP = ("experiment analysis (analyze, apply=False)", "variant trend, 30 days × 1 day (composite)")


def analysis(store: Store, world: World) -> Any:
    service = compose(store, actor="bench", clock=ManualClock(world.now)).experiments
    return service.analyze(world.experiment_id, apply=False)


def trend(store: Store, world: World) -> Any:
    return variant_trend(
        store, "leads", "1.0.0", metric="composite", since=world.t0, until=world.now, buckets=30
    )


def reads(store: Store, world: World) -> dict[str, Callable[[], Any]]:
    week = world.now - 7 * DAY

    def dataset() -> Any:
        return build_from_production(store, "bench-production", prompt="leads", limit=5000, replace=True)

    def listing(**f: Any) -> Callable[[], Any]:
        return lambda: list_executions(store, ExecutionFilter(limit=51, **f))

    return {
        "experiment analysis (analyze, apply=False)": lambda: analysis(store, world),
        "variant trend, 30 days × 1 day (composite)": lambda: trend(store, world),
        "executions: newest, no filter": listing(),
        "executions: prompt + status=error + since 7 d": listing(
            prompt="leads", status="error", since=_dt(week)
        ),
        "executions: prompt + version, page 100 (offset 4,950)": listing(
            prompt="leads", version="1.1.0", offset=4_950
        ),
        "executions: experiment, page 2": listing(experiment_id=world.experiment_id, offset=50),
        "dataset from production feedback (5,000 items)": dataset,
    }


def _dt(ts: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)


def analyze_tables(store: Store) -> float:
    """What autovacuum does to freshly loaded tables (statistics, visibility map), done at once."""
    t = time.perf_counter()
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("VACUUM (ANALYZE) executions, scores, exposures, feedback"))
        else:
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - t


def rollup_count(store: Store) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(Rollup)) or 0)


def size(store: Store) -> str:
    with store.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.execute(
                text(
                    "SELECT relname, pg_total_relation_size(c.oid) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND relkind = 'r' ORDER BY 2 DESC LIMIT 4"
                )
            ).all()
            return ", ".join(f"{name} {b / 2**30:.2f} GiB" for name, b in rows)
        pages = conn.execute(text("PRAGMA page_count")).scalar_one()
        page = conn.execute(text("PRAGMA page_size")).scalar_one()
        return f"database file {pages * page / 2**30:.2f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="executions to load")
    parser.add_argument("--sqlite", action="store_true", help="SQLite in a temporary file instead")
    parser.add_argument("--keep", action="store_true", help="keep the schema / file for a second look")
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=2, help="timed repeats after the first call")
    parser.add_argument("--timeout", type=int, default=600, help="PostgreSQL statement timeout, seconds")
    parser.add_argument(
        "--reuse", metavar="SCHEMA", help="time the reads on a schema (SQLite: a file) kept by --keep"
    )
    parser.add_argument("--only", help="time only the reads whose label contains this text")
    parser.add_argument(
        "--fresh", type=int, default=0, help="new calls written between looks (rollup refresh timing)"
    )
    parser.add_argument("--no-vacuum", action="store_true", help="with --reuse: skip VACUUM ANALYZE")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with open_store(args.sqlite, args.keep, args.timeout, args.reuse) as store:
        print(f"store: {store.engine.dialect.name} {store.engine.dialect.server_version_info or ''}")
        t = time.perf_counter()
        upgrade(store)
        print(f"migrations: {time.perf_counter() - t:.1f} s")
        if args.reuse:
            world = find_world(store)
            with store.read() as s:
                args.rows = s.scalar(select(func.count()).select_from(Execution))
        else:
            world = make_world(store, time.time())
            t = time.perf_counter()
            counts, made, wrote = load(store, world, args.rows, args.batch)
            elapsed = time.perf_counter() - t
            total = sum(counts.values())
            print(f"\nloaded {', '.join(f'{n} {c:,}' for n, c in counts.items())} in {elapsed:.0f} s")
            print(
                f"  {args.rows / elapsed:,.0f} executions/s, {total / elapsed:,.0f} rows/s all tables "
                f"({made:.0f} s making rows in Python, {wrote:.0f} s writing); "
                f"load {os.getloadavg()[0]:.2f}"
            )
        if not (args.reuse and args.no_vacuum):
            print(f"  vacuum/analyze {analyze_tables(store):.0f} s; {size(store)}")
        rng = random.Random(11)
        if args.fresh:
            written, took = fresh_traffic(store, world, args.fresh, 0, rng)
            print(
                f"\nwrite {written:,} new rows ({args.fresh:,} calls), "
                f"{rollup_count(store)} rollups: {took:.3f} s"
            )
        print(f"\n| read ({args.rows:,} executions) | first s | best of {args.repeat} s | load avg |")
        print("|---|---|---|---|")
        samples = []
        for label, fn in reads(store, world).items():
            if args.only and args.only not in label:
                continue
            try:
                first, best, _ = timed(fn, args.repeat, always=label in ROLLED_UP)
            except OperationalError as exc:  # the statement timeout (the store translates some errors)
                print(f"| {label} | > {args.timeout} (timeout: {type(exc.orig).__name__}) | | |", flush=True)
                continue
            except Exception as exc:
                if "statement timeout" not in str(exc):
                    raise
                print(f"| {label} | > {args.timeout} (statement timeout) | | |", flush=True)
                continue
            samples.append(best)
            print(f"| {label} | {first:.3f} | {best:.3f} | {os.getloadavg()[0]:.2f} |", flush=True)
        for round_ in range(1, 3 if args.fresh else 0):
            written, took = fresh_traffic(store, world, args.fresh, round_, rng)
            print(
                f"| write {written:,} new rows ({args.fresh:,} calls + late feedback), "
                f"{rollup_count(store)} rollups | {took:.3f} | | {os.getloadavg()[0]:.2f} |"
            )
            for label, fn in (
                ("analysis after them (refresh + read)", analysis),
                ("trend after them", trend),
            ):
                first, _, _ = timed(lambda fn=fn: fn(store, world), 0)
                print(f"| {label} | {first:.3f} | | {os.getloadavg()[0]:.2f} |", flush=True)
        print(
            f"\nmedian best: {statistics.median(samples or [0.0]):.3f} s; load average at end: "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )


if __name__ == "__main__":
    main()
