"""Does the autopilot end with the best variant serving, how fast, and does it ever promote a worse one?

Many seeded runs of the whole loop, end to end: a fresh SQLite store, the real SDK serving production
traffic, simulated users giving feedback, and ``Autopilot.run_once`` between batches of traffic
(evolution from production feedback, the held-out gate, the A/B test with its ramp and guardrails,
promotion or rollback). The model is the scripted world of ``tests/autopilot/support.py``: every
variant's true accuracy is known from the form of its prompt (the baseline's plain chat prompt, or
the worked-examples form that the ``few_shot`` strategy writes, ``shots``). Evolution's calls can be
answered by a different table than production's (``offline``), the way an offline evaluation can
disagree with production: the A/B test is the last line of defence.

Scenarios (accuracy plain → shots; latency ms):

- ``better``: shots is better offline and in production (0.5 → 0.7): it should end serving;
- ``equal``: shots looks better offline (0.9) but is equal in production (0.5): promoting it is a false
  positive of the A/B test, at most ``alpha`` (0.05) of the runs;
- ``worse``: shots looks better offline (0.9) but is worse in production (0.4): never promoted;
- ``slow``: shots is better (0.7) but 50 % slower (750 ms against 500): the latency guardrail (+5 %)
  must roll it back; promoting it counts as promoting a worse variant.

Per run: ``--passes`` passes, ``--calls`` production calls before each. Figures per scenario: how often
the best variant ends serving, the median production calls until it served, and how often a variant
worse than the one serving (or, for ``equal``, not better) was ever promoted, with 95 % Wilson
intervals.

Run:  /work/venv/bin/python bench/autopilot_sim.py                 (the defaults: about 10 minutes)
      /work/venv/bin/python bench/autopilot_sim.py --runs 3        (a smoke test)
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the simulated world lives with the tests

from sqlalchemy import select  # noqa: E402
from tests.autopilot.support import Model, form_of, make_world, test_policy  # noqa: E402

from promptevolve.autopilot import update_policy  # noqa: E402
from promptevolve.store.engine import Store  # noqa: E402
from promptevolve.store.migrate import upgrade  # noqa: E402
from promptevolve.store.tables import Decision, Experiment, PromptVariant  # noqa: E402

SEED = 20_261_126


@dataclass(frozen=True)
class Scenario:
    online: dict[str, float]  # production accuracy per form
    offline: dict[str, float]  # what evolution's evaluation sees
    latency_ms: dict[str, float]  # production latency per form (default 500 ms)

    def value(self, form: str) -> float:
        """How good a form is in production: its accuracy, or -1 when it is slower (harmful)."""
        return (
            -1.0 if self.latency_ms.get(form, 500.0) > 500.0 else self.online.get(form, self.online["plain"])
        )

    @property
    def best(self) -> float:
        return max(self.value(form) for form in self.online)


_BETTER = {"plain": 0.5, "shots": 0.7, "bare": 0.45}
_LOOKS_BETTER = {"plain": 0.5, "shots": 0.9, "bare": 0.45}
SCENARIOS = {
    "better": Scenario(_BETTER, _BETTER, {}),
    "equal": Scenario({"plain": 0.5, "shots": 0.5, "bare": 0.5}, _LOOKS_BETTER, {}),
    "worse": Scenario({"plain": 0.5, "shots": 0.4, "bare": 0.4}, _LOOKS_BETTER, {}),
    "slow": Scenario(_BETTER, _BETTER, {"shots": 750.0, "bare": 750.0}),
}
POLICY = {
    "daily_calls": 1200,
    "evolution": {"min_feedback": 200, "round_calls": 300},
    "experiment": {
        "ramp": [10, 50, 100],
        "min_units_per_step": 50,
        "guardrail_min_units": 50,
        "min_sample": 300,
        "mde": 0.1,
        "alpha": 0.05,
    },
}


@dataclass(frozen=True)
class RunResult:
    best_served: bool
    calls_until_best: int | None
    promoted_worse: bool  # a promotion to a variant worse than the one serving
    promoted_not_better: bool  # … or not strictly better
    rounds: int
    experiments: int
    outcomes: tuple[str, ...]  # how each A/B test ended: promoted, rolled_back, no_winner, running


def one_run(template: Path, workdir: Path, scenario: str, seed: int, passes: int, calls: int) -> RunResult:
    path = workdir / f"{scenario}-{seed}.db"
    shutil.copy(template, path)
    store = Store.from_url(f"sqlite:///{path}")
    sim = SCENARIOS[scenario]
    world = make_world(
        store,
        model=Model(p={**sim.online, "v2": 0.5}, latency_ms=sim.latency_ms, seed=seed),
        offline=Model(p={**sim.offline, "v2": 0.5}, seed=seed),
        seed=seed,
    )

    def value(version: str) -> float:
        variant = world.registry.get_variant("colours", version)
        text = (
            variant.template
            if isinstance(variant.template, str)
            else "\n".join(m["content"] for m in variant.template)
        )
        return sim.value(form_of(text))

    try:
        update_policy(world.registry, "colours", test_policy("autonomous", **POLICY), actor="bench")
        autopilot = world.autopilot()
        calls_until_best: int | None = None
        for _ in range(passes):
            world.traffic(calls)
            autopilot.run_once()
            if calls_until_best is None and value(world.serving()) >= sim.best:
                calls_until_best = world.served
        worse = not_better = False
        with store.read() as s:
            log = s.scalars(select(Decision).order_by(Decision.id)).all()
            promoted = s.scalars(
                select(PromptVariant.version)
                .join(Experiment, Experiment.winner_variant_id == PromptVariant.id)
                .order_by(Experiment.id)
            ).all()
            ended = s.execute(select(Experiment.status, Experiment.winner_variant_id)).all()
        outcomes = tuple(
            "promoted"
            if winner
            else {"concluded": "no_winner", "rolled_back": "rolled_back"}.get(status, "running")
            for status, winner in ended
        )
        serving_p = value("1.0.0")
        for version in promoted:
            p = value(version)
            worse |= p < serving_p
            not_better |= p <= serving_p
            serving_p = p
        return RunResult(
            best_served=value(world.serving()) >= sim.best,
            calls_until_best=calls_until_best,
            promoted_worse=worse,
            promoted_not_better=not_better,
            rounds=sum(d.action == "evolved" for d in log),
            experiments=sum(d.action == "experiment_started" for d in log),
            outcomes=outcomes,
        )
    finally:
        world.close()
        store.dispose()
        path.unlink(missing_ok=True)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def share(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k}/{n} = {k / n:.0%} [{low:.0%}, {high:.0%}]"


def _outcomes(results: list[RunResult]) -> str:
    tally = Counter(o for r in results for o in r.outcomes)
    ended = ", ".join(
        f"{k} {tally[k]}" for k in ("promoted", "rolled_back", "no_winner", "running") if tally[k]
    )
    return f"{sum(tally.values())}: {ended}" if tally else "0"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=24, help="runs per scenario")
    parser.add_argument("--passes", type=int, default=10, help="autopilot passes per run")
    parser.add_argument("--calls", type=int, default=300, help="production calls before each pass")
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS), help="default: all")
    args = parser.parse_args()
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="autopilot-sim-"))
    template = workdir / "template.db"
    store = Store.from_url(f"sqlite:///{template}")
    upgrade(store)
    store.dispose()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()}"
    )
    print(
        f"load average at start: {os.getloadavg()[0]:.1f}; seed {SEED}; {args.runs} runs per scenario, "
        f"{args.passes} passes of {args.calls} production calls each; SQLite"
    )
    header = f"{'scenario':<8} {'best variant ends serving':<28} {'median calls until':>18} "
    header += f"{'a worse variant promoted':<26} {'a not-better promoted':<26} {'rounds':>6}"
    header += "  A/B tests, how they ended"
    print(header)
    for scenario in args.scenario or list(SCENARIOS):
        results = [
            one_run(template, workdir, scenario, SEED + i, args.passes, args.calls) for i in range(args.runs)
        ]
        n = len(results)
        until = [r.calls_until_best for r in results if r.calls_until_best is not None]
        median = f"{statistics.median(until):,.0f}" if until else "–"
        baseline_is_best = SCENARIOS[scenario].best <= SCENARIOS[scenario].value("plain")
        print(
            f"{scenario:<8} {share(sum(r.best_served for r in results), n):<28} "
            f"{'(baseline)' if baseline_is_best else median:>18} "
            f"{share(sum(r.promoted_worse for r in results), n):<26} "
            f"{share(sum(r.promoted_not_better for r in results), n):<26} "
            f"{statistics.mean(r.rounds for r in results):>6.1f}  {_outcomes(results)}",
            flush=True,
        )
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
