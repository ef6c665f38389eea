"""Is a harmful variant rolled back before it reaches 50 % of the traffic? A seeded simulation.

The safe rollout of ``promptevolve.experiments`` is simulated with the very decision rule the service
runs (``experiments.decide.decide``), fed with simulated per-arm sums instead of SQL sums:

- a control and one treatment, test shares 50/50, the default ladder 1 → 5 → 10 → 25 → 50 → 100 %, the
  default guardrails (latency +5 % relative, error rate +1 point, cost +5 % relative, always-valid
  confidence sequences at alpha 0.05 with Holm), the default step gate (``min_units_per_step`` 100 and
  every guardrail shown within 1.5 times its tolerance) and ``guardrail_min_units`` 50;
- traffic arrives in batches of ``--batch`` units (one call each), routed by the current shares, and the
  experiment is analysed after every batch (a look);
- latency per call is log-normal, median 1,200 ms, sigma ``--sigma`` (0.35: a coefficient of variation
  of 0.36); errors 1 % in both arms; cost proportional to a token count that is the same in both arms;
- **harmful**: the treatment's latency is 10 % higher (median 1,320 ms); **harmless**: identical arms.

A run ends at a rollback, when the ramp-up completes (treatment at 50 %: the harm got through) or after
``--max-looks``. Figures: the share of harmful runs rolled back before 50 % (target: at least 95 %),
the step at which they were caught and the treatment units exposed until then; for harmless runs, how
often one is wrongly rolled back before 50 %.

Run:  /work/venv/bin/python bench/rollout_sim.py              (2,000 runs per case, one case per core)
      /work/venv/bin/python bench/rollout_sim.py --runs 200   (a smoke test)

The figures are seeded and do not depend on the machine. Wall time: 41 s for 300 runs per case on one
core; 11 to 15 minutes for the default 2,000 while other jobs shared the 2 cores (load average 5–6).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import scipy

from promptevolve.experiments.decide import Observation, decide
from promptevolve.experiments.plan import (
    DEFAULT_LADDER,
    ExperimentStatus,
    Guardrail,
    Mode,
    Plan,
    State,
)
from promptevolve.experiments.procedures import Procedure
from promptevolve.experiments.rollout import percent_to_bp, ramp_up_shares
from promptevolve.stats import SampleStats

SEED = 20_251_126
MEDIAN_MS = 1200.0
ERROR_RATE = 0.01
METRICS = ("latency_ms", "error_rate", "cost_usd")


def default_plan(min_units_per_step: int, margin: float) -> Plan:
    """The plan ``ExperimentService.create`` makes by default for one treatment (no grace: no caches)."""
    return Plan(
        mode=Mode.AB,
        control="control",
        treatments=("treatment",),
        test_shares_bp={"control": 5000, "treatment": 5000},
        metric="composite",
        relative=False,
        procedure=Procedure.SEQUENTIAL,
        alpha=0.05,
        mde=0.05,
        min_sample=10**9,
        guardrails=(
            Guardrail("latency_ms", 0.05, True),
            Guardrail("error_rate", 0.01, False),
            Guardrail("cost_usd", 0.05, True),
        ),
        guardrail_alpha=0.05,
        ladder_bp=tuple(percent_to_bp(p) for p in DEFAULT_LADDER),
        min_units_per_step=min_units_per_step,
        step_margin=margin,
        srm_grace_s=0.0,
    )


@dataclass
class Arm:
    """Running sums of one arm: guardrail metrics since the start, units in the current phase."""

    sums: dict[str, SampleStats]
    phase_units: int = 0


def _calls(n: int, latency_factor: float, sigma: float, rng: np.random.Generator) -> dict[str, SampleStats]:
    failed = rng.random(n) < ERROR_RATE
    ok = int(n - failed.sum())
    latency = MEDIAN_MS * latency_factor * np.exp(sigma * rng.standard_normal(ok))
    tokens = rng.integers(200, 600, size=ok)
    return {
        "latency_ms": SampleStats.from_values(latency),
        "error_rate": SampleStats.from_values(failed.astype(float)),
        "cost_usd": SampleStats.from_values(tokens * 2e-6),
    }


def run_once(
    plan: Plan, latency_factor: float, sigma: float, batch: int, max_looks: int, rng: np.random.Generator
):
    """One rollout; returns (outcome, treatment share reached in bp, treatment units, all units)."""
    state = State(
        status=ExperimentStatus.RAMPING,
        shares_bp=ramp_up_shares(plan, 0),
        step=0,
        started_at=0.0,
        phase_since=0.0,
    )
    empty = SampleStats(0, 0.0, 0.0)
    arms = {a: Arm(dict.fromkeys(METRICS, empty)) for a in plan.arms}
    exposed = 0
    for look in range(1, max_looks + 1):
        p_treat = state.shares_bp["treatment"] / 10_000
        n_treat = int(rng.binomial(batch, p_treat))
        for arm, n, factor in (("control", batch - n_treat, 1.0), ("treatment", n_treat, latency_factor)):
            if n:
                new = _calls(n, factor, sigma, rng)
                arms[arm].sums = {m: arms[arm].sums[m] + new[m] for m in METRICS}
                arms[arm].phase_units += n
        exposed += n_treat
        obs = Observation(
            units={a: arms[a].phase_units for a in plan.arms},
            primary={},
            guardrails={m: {a: arms[a].sums[m] for a in plan.arms} for m in METRICS},
        )
        outcome = decide(plan, state, obs, now=float(look), rng=rng)
        if outcome.state.phase_since != state.phase_since:
            for arm in arms.values():
                arm.phase_units = 0
        reached = state.shares_bp["treatment"]
        state = replace(outcome.state, looks=outcome.state.looks)
        if state.status is ExperimentStatus.ROLLED_BACK:
            return "rolled_back", reached, exposed, look * batch
        if state.status is ExperimentStatus.RUNNING:
            return "reached_50", state.shares_bp["treatment"], exposed, look * batch
    return "undecided", state.shares_bp["treatment"], exposed, max_looks * batch


def simulate(
    runs: int, latency_factor: float, args: argparse.Namespace, seed: np.random.SeedSequence
) -> dict:
    rng = np.random.default_rng(seed)
    plan = default_plan(args.min_units, args.margin)
    outcomes: Counter[str] = Counter()
    caught_at: Counter[float] = Counter()
    exposed_when_caught, units_to_50 = [], []
    for _ in range(runs):
        outcome, share_bp, exposed, total = run_once(
            plan, latency_factor, args.sigma, args.batch, args.max_looks, rng
        )
        outcomes[outcome] += 1
        if outcome == "rolled_back":
            caught_at[share_bp / 100] += 1
            exposed_when_caught.append(exposed)
        elif outcome == "reached_50":
            units_to_50.append(total)
    before_50 = sum(n for share, n in caught_at.items() if share < 50)
    return {
        "runs": runs,
        "rolled_back_before_50": before_50 / runs,
        "outcomes": dict(outcomes),
        "caught_at_share": dict(sorted(caught_at.items())),
        "median_treatment_units_exposed": _median(exposed_when_caught),
        "median_units_to_50": _median(units_to_50),
    }


def _median(values: list[int]) -> float:
    return float(np.median(values)) if values else math.nan


def _wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def _print(label: str, result: dict) -> None:
    low, high = _wilson(result["rolled_back_before_50"], result["runs"])
    print(
        f"{label}: rolled back before 50 % in {result['rolled_back_before_50']:.1%} of {result['runs']} runs "
        f"(95 % CI {low:.1%}–{high:.1%})"
    )
    print(f"    outcomes: {result['outcomes']}")
    print(f"    caught at treatment share (%): {result['caught_at_share']}")
    exposed, to_50 = result["median_treatment_units_exposed"], result["median_units_to_50"]
    print(f"    median treatment units exposed until the rollback: {exposed:.0f}")
    print(f"    median units (all arms) until the ramp-up reached 50 %: {to_50:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500, help="units between two looks")
    parser.add_argument("--sigma", type=float, default=0.35, help="log-normal sigma of latency")
    parser.add_argument("--min-units", type=int, default=100, help="min_units_per_step")
    parser.add_argument("--margin", type=float, default=1.5, help="step_margin (x tolerance)")
    parser.add_argument("--max-looks", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    harmful_seed, harmless_seed = np.random.SeedSequence(args.seed).spawn(2)
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    cpu = platform.processor() or platform.machine()
    print(
        f"machine: {platform.platform()}, {cpu}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}"
    )
    cv = math.sqrt(math.exp(args.sigma**2) - 1)
    print(
        f"setup: 50/50 test, ladder {'/'.join(f'{p:g}' for p in DEFAULT_LADDER)} %, min {args.min_units} "
        f"treatment units per step, step margin {args.margin:g} x tolerance, "
        f"a look every {args.batch} units, latency log-normal median "
        f"{MEDIAN_MS:.0f} ms, CV {cv:.2f}; seed {args.seed}"
    )
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as pool:  # one scenario per core
        harmful = pool.submit(simulate, args.runs, 1.10, args, harmful_seed)
        harmless = pool.submit(simulate, args.runs, 1.00, args, harmless_seed)
        _print("harmful (latency +10 %)", harmful.result())
        _print("harmless (identical arms)", harmless.result())
    print(f"wall time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
