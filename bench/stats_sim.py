"""How well do promptevolve's statistics behave when watched continuously? A seeded simulation.

Questions, each answered with the package's own functions evaluated on NumPy arrays of simulated paths
(cumulative sums over looks; Bernoulli data drawn as Binomial increments between looks, which is exact):

1. A/A, Bernoulli(0.70) in both arms, 20,000 paths, 1,000 looks (every 10 units per arm, up to 10,000 per
   arm): how often does the default always-valid test (gbstats' confidence sequence, N* = 5000) ever
   reject, and the mSPRT (τ = 0.05), against a fixed-horizon z-test read at every look (naive peeking)?
2. A/B, 0.70 → 0.75, same looks: power of the sequential tests within 10,000 units per arm, and the
   units per arm they need to decide, against the fixed-horizon 1,248 per arm (80 % power).
3. SRM: how often does the χ² test block (p < 0.001) when 2 % of treatment exposures are lost, by total
   units assigned 50/50?
4. Bandit: pseudo-regret Σ (μ* − μ_chosen) over T = 5,000 calls on arms 0.70 / 0.72 / 0.75, for
   per-call Thompson sampling, for floored Thompson weights recomputed every B calls (how the router
   uses them), and for uniform traffic.

Run:  /work/venv/bin/python bench/stats_sim.py            (about 2 minutes on 2 cores)
      /work/venv/bin/python bench/stats_sim.py --quick    (a tenth of the paths, for a smoke test)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy
from scipy import stats as sps

from promptevolve.routing.bandit import thompson_draw, thompson_weights_beta
from promptevolve.stats import (
    cs_p_value,
    lift_variance,
    msprt_p_value,
    proportion_sample_size,
    srm_test,
)

ALPHA = 0.05
MSPRT_TAU_SQ = 0.05**2  # mixture sd = the MDE of the A/B question
SEED = 20_251_126


@dataclass(frozen=True)
class Paths:
    """Per-look rejection flags of one chunk of simulated two-arm experiments, shape (paths, looks)."""

    n: np.ndarray  # units per arm at each look
    sequential: np.ndarray
    msprt: np.ndarray
    naive: np.ndarray


def simulate(paths: int, looks: int, per_look: int, pa: float, pb: float, rng: np.random.Generator) -> Paths:
    n = per_look * np.arange(1, looks + 1)
    ma = np.cumsum(rng.binomial(per_look, pa, size=(paths, looks)), axis=1) / n
    mb = np.cumsum(rng.binomial(per_look, pb, size=(paths, looks)), axis=1) / n
    variance = lift_variance(ma, ma * (1 - ma), n, mb, mb * (1 - mb), n, relative=False)
    estimate = mb - ma
    live = variance > 0  # the tests' ZERO_VARIANCE status: no decision
    safe = np.where(live, variance, 1.0)
    sequential = live & (cs_p_value(estimate, safe, 2 * n, alpha=ALPHA) < ALPHA)
    msprt = live & (msprt_p_value(estimate, safe, tau_sq=MSPRT_TAU_SQ) < ALPHA)
    naive = live & (np.abs(estimate) / np.sqrt(safe) > sps.norm.ppf(1 - ALPHA / 2))
    return Paths(n, sequential, msprt, naive)


def chunks(total: int, size: int, rng: np.random.Generator, **kwargs: float) -> Iterator[Paths]:
    for start in range(0, total, size):
        yield simulate(min(size, total - start), rng=rng, **kwargs)  # type: ignore[arg-type]


def aa_peeking(paths: int, rng: np.random.Generator) -> dict[str, float]:
    hits = {"sequential": 0, "msprt": 0, "naive_1000": 0, "naive_100": 0, "fixed_final": 0}
    for c in chunks(paths, 2000, rng, looks=1000, per_look=10, pa=0.70, pb=0.70):
        hits["sequential"] += int(c.sequential.any(axis=1).sum())
        hits["msprt"] += int(c.msprt.any(axis=1).sum())
        hits["naive_1000"] += int(c.naive.any(axis=1).sum())
        hits["naive_100"] += int(c.naive[:, 9::10].any(axis=1).sum())
        hits["fixed_final"] += int(c.naive[:, -1].sum())
    return {k: v / paths for k, v in hits.items()}


def first_decision(flags: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Units per arm at the first rejection of each path; ``inf`` where it never rejects."""
    decided = flags.any(axis=1)
    return np.where(decided, n[np.argmax(flags, axis=1)], np.inf)


def ab_power(paths: int, rng: np.random.Generator) -> dict[str, dict[str, float]]:
    stops: dict[str, list[np.ndarray]] = {"sequential": [], "msprt": []}
    for c in chunks(paths, 2000, rng, looks=1000, per_look=10, pa=0.70, pb=0.75):
        stops["sequential"].append(first_decision(c.sequential, c.n))
        stops["msprt"].append(first_decision(c.msprt, c.n))
    out = {}
    for name, parts in stops.items():
        at = np.concatenate(parts)
        done = at[np.isfinite(at)]
        out[name] = {
            "power": done.size / at.size,
            "mean_n": float(done.mean()),
            "median_n": float(np.median(done)),
            "n_for_80": float(np.quantile(at, 0.8)),
            "power_at_1248": float(np.mean(at <= 1248)),
        }
    return out


def fixed_power(n: int, sims: int, rng: np.random.Generator) -> float:
    pa, pb = rng.binomial(n, 0.70, size=sims) / n, rng.binomial(n, 0.75, size=sims) / n
    se = np.sqrt((pa * (1 - pa) + pb * (1 - pb)) / n)
    return float(np.mean(np.abs(pb - pa) / se > sps.norm.ppf(1 - ALPHA / 2)))


def srm_detection(totals: list[int], sims: int, rng: np.random.Generator) -> dict[int, float]:
    out = {}
    for total in totals:
        treated = rng.binomial(total, 0.5, size=sims)
        kept = rng.binomial(treated, 0.98)  # 2 % of treatment exposures lost
        blocks = [srm_test([total - t, k], [0.5, 0.5]).blocks for t, k in zip(treated, kept, strict=True)]
        out[total] = float(np.mean(blocks))
    return out


ARMS = np.array([0.70, 0.72, 0.75])


def _pull(choice: np.ndarray, s: np.ndarray, f: np.ndarray, rng: np.random.Generator) -> float:
    rows = np.arange(choice.size)
    reward = rng.random(choice.size) < ARMS[choice]
    s[rows, choice] += reward
    f[rows, choice] += ~reward
    return float(np.sum(ARMS.max() - ARMS[choice]))


def regret_per_call_thompson(seeds: int, horizon: int, rng: np.random.Generator) -> np.ndarray:
    s, f = np.zeros((seeds, 3)), np.zeros((seeds, 3))
    regret = np.zeros(seeds)
    for _ in range(horizon):
        choice = thompson_draw(s, f, rng)
        regret += ARMS.max() - ARMS[choice]
        _pull(choice, s, f, rng)
    return regret


def regret_weighted(seeds: int, horizon: int, every: int, rng: np.random.Generator) -> np.ndarray:
    """Floored (1 %) Thompson weights recomputed every ``every`` calls; arms drawn by weight between."""
    s, f = np.zeros((seeds, 3)), np.zeros((seeds, 3))
    regret = np.zeros(seeds)
    for t in range(horizon):
        if t % every == 0:
            cumulative = np.cumsum(thompson_weights_beta(s, f, rng=rng, draws=1000), axis=1)
        # choose_arm's rule, vectorised over the independent bandits
        choice = np.minimum((rng.random((seeds, 1)) * cumulative[:, -1:] >= cumulative).sum(axis=1), 2)
        regret += ARMS.max() - ARMS[choice]
        _pull(choice, s, f, rng)
    return regret


def regret_uniform(seeds: int, horizon: int, rng: np.random.Generator) -> np.ndarray:
    choice = rng.integers(0, 3, size=(seeds, horizon))
    return (ARMS.max() - ARMS[choice]).sum(axis=1)


def machine() -> str:
    return (
        f"{platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}, NumPy {np.__version__}, SciPy {scipy.__version__}"
    )


def fmt_regret(r: np.ndarray) -> str:
    return f"{r.mean():.1f} ± {r.std(ddof=1) / np.sqrt(r.size):.1f} (SE)"


def sequential_rows(
    aa: dict[str, float], ab: dict[str, dict[str, float]], n_fixed: int, fixed: float
) -> list[tuple[str, str]]:
    seq, ms = ab["sequential"], ab["msprt"]
    return [
        ("A/A false positives, default sequential (CS, N*=5000), 1,000 looks", f"{aa['sequential']:.2%}"),
        ("A/A false positives, mSPRT (τ = 0.05), 1,000 looks", f"{aa['msprt']:.2%}"),
        ("A/A false positives, naive z-test at every look, 1,000 looks", f"{aa['naive_1000']:.2%}"),
        ("A/A false positives, naive z-test at every 10th look, 100 looks", f"{aa['naive_100']:.2%}"),
        ("A/A false positives, z-test once at 10,000 per arm (sanity)", f"{aa['fixed_final']:.2%}"),
        ("A/B 0.70→0.75 fixed-horizon n per arm (80 % power, unpooled)", f"{n_fixed:,}"),
        (f"A/B fixed-horizon z-test power at {n_fixed:,} per arm (simulated)", f"{fixed:.1%}"),
        ("A/B CS (default sequential) power within 10,000 per arm", f"{seq['power']:.2%}"),
        ("A/B CS mean / median n per arm at decision", f"{seq['mean_n']:,.0f} / {seq['median_n']:,.0f}"),
        ("A/B CS n per arm by which 80 % decided", f"{seq['n_for_80']:,.0f}"),
        (f"A/B CS power by {n_fixed:,} per arm", f"{seq['power_at_1248']:.1%}"),
        ("A/B mSPRT (τ = 0.05) power within 10,000 per arm", f"{ms['power']:.2%}"),
        ("A/B mSPRT mean / median n per arm at decision", f"{ms['mean_n']:,.0f} / {ms['median_n']:,.0f}"),
        ("A/B mSPRT n per arm by which 80 % decided", f"{ms['n_for_80']:,.0f}"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the paths and seeds")
    scale = 10 if parser.parse_args().quick else 1
    rng = np.random.default_rng(SEED)
    started = time.perf_counter()
    print(f"machine: {machine()}\nseed: {SEED}\n")

    paths, seeds = 20_000 // scale, 2000 // scale
    aa, ab = aa_peeking(paths, rng), ab_power(paths, rng)
    n_fixed = proportion_sample_size(baseline=0.70, mde=0.05)
    rows = sequential_rows(aa, ab, n_fixed, fixed_power(n_fixed, 100_000 // scale, rng))
    for total, rate in srm_detection(
        [20_000, 50_000, 100_000, 200_000, 400_000], 20_000 // scale, rng
    ).items():
        rows.append((f"SRM blocks (p < 0.001), 2 % treatment loss, {total:,} units assigned", f"{rate:.1%}"))
    regret = regret_per_call_thompson(seeds, 5000, rng)
    rows.append((f"bandit regret, Thompson per call ({seeds} seeds)", fmt_regret(regret)))
    for every, n_seeds in ((25, seeds // 4), (100, seeds)):
        regret = regret_weighted(n_seeds, 5000, every, rng)
        rows.append(
            (
                f"bandit regret, Thompson weights, floor 1 %, every {every} calls ({n_seeds} seeds)",
                fmt_regret(regret),
            )
        )
    regret = regret_uniform(seeds, 5000, rng)
    rows.append((f"bandit regret, uniform ({seeds} seeds; exact 133.3)", fmt_regret(regret)))

    print("| question | figure |\n|---|---|")
    for question, figure in rows:
        print(f"| {question} | {figure} |")
    print(f"\npaths {paths:,}, looks every 10 units per arm; wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
