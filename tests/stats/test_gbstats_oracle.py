"""promptevolve.stats agrees with GrowthBook's gbstats 0.8.0 on hundreds of random inputs.

gbstats pins numpy < 2, so it runs in its own virtual environment, built once with ``python -m venv``
and ``pip install gbstats==0.8.0`` and cached in pytest's cache directory
(``.pytest_cache/d/gbstats-venv-0.8.0/venv``, git-ignored by pytest itself) or wherever the environment
variable ``PROMPTEVOLVE_GBSTATS_VENV`` points. ``gbstats_oracle.py`` runs there as a subprocess, reading
the cases as JSON on stdin. If the environment cannot be built the test fails with pip's output: an
oracle that silently skips proves nothing.

Tolerances: the formulas are the same, so values agree to ``rel 1e-9`` with an absolute floor of
``1e-12`` (the worst seen is a relative 2e-11, from the two environments' SciPy versions); p-values get
an absolute floor of ``1e-10`` because gbstats computes ``2 (1 − cdf)`` where we use the survival
function, exact in the tail where gbstats loses digits to cancellation. All the oracle's cases run in one
subprocess, so the comparison costs a few seconds once the environment exists.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from promptevolve.stats import (
    LiftResult,
    NormalPrior,
    ProportionStats,
    RatioStats,
    SampleStats,
    bayesian_effect_test,
    confidence_sequence_test,
    srm_test,
    welch_test,
)

pytestmark = pytest.mark.slow

GBSTATS = "gbstats==0.8.0"
ORACLE = Path(__file__).with_name("gbstats_oracle.py")
N_CASES = 200
REL, ABS, P_ABS = 1e-9, 1e-12, 1e-10


# --- the isolated environment -------------------------------------------------------------------------


def _venv_root(config: pytest.Config) -> Path:
    override = os.environ.get("PROMPTEVOLVE_GBSTATS_VENV")
    if override:
        return Path(override)
    cache = getattr(config, "cache", None)
    if cache is None:  # pytest run with -p no:cacheprovider
        return Path(config.rootpath) / ".cache" / "gbstats-venv-0.8.0"
    return Path(cache.mkdir("gbstats-venv-0.8.0"))


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def _works(venv: Path) -> bool:
    if not (venv / ".ready").exists():
        return False
    probe = [str(_python(venv)), "-c", "import gbstats.gbstats"]
    return subprocess.run(probe, capture_output=True, env=_clean_env(), timeout=120).returncode == 0


def _run_or_fail(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, env=_clean_env(), timeout=1200)
    if done.returncode != 0:
        pytest.fail(f"could not {what} for the gbstats oracle:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def _build(venv: Path) -> None:
    _run_or_fail([sys.executable, "-m", "venv", "--clear", str(venv)], "create a virtual environment")
    pip = [str(_python(venv)), "-m", "pip", "install", "--disable-pip-version-check", "-q", GBSTATS]
    _run_or_fail(pip, f"pip install {GBSTATS}")
    (venv / ".ready").write_text(GBSTATS + "\n")


@pytest.fixture(scope="session")
def gbstats_python(pytestconfig: pytest.Config) -> Path:
    root = _venv_root(pytestconfig)
    root.mkdir(parents=True, exist_ok=True)
    venv = root / "venv"
    with open(root / "build.lock", "w") as lock:  # one builder at a time (pytest-xdist workers)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _works(venv):
            _build(venv)
    return _python(venv)


def run_oracle(python: Path, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [str(python), str(ORACLE)], input=json.dumps(cases), capture_output=True, text=True,
        env=_clean_env(), timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"gbstats oracle failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout)


# --- random inputs ------------------------------------------------------------------------------------


def _mean_arm(rng: np.random.Generator) -> dict[str, Any]:
    n = int(rng.integers(2, 50_000))
    mean, sd = rng.uniform(0.2, 50.0), rng.lognormal(0.0, 1.0)
    total = n * mean
    return {"n": n, "total": total, "total_sq": (n - 1) * sd**2 + total**2 / n}


def _prop_arm(rng: np.random.Generator) -> dict[str, Any]:
    n = int(rng.integers(2, 50_000))
    return {"n": n, "successes": int(rng.integers(1, n))}


def _ratio_arm(rng: np.random.Generator) -> dict[str, Any]:
    n = int(rng.integers(3, 400))
    y = rng.poisson(rng.uniform(50, 500), size=n) + 1.0
    x = y * rng.lognormal(-9.0, 0.3, size=n) + rng.exponential(1e-4, size=n)  # cost for tokens
    s = RatioStats.from_values(x, y)
    return {k: getattr(s, k) for k in ("n", "sum_x", "sum_y", "sum_x2", "sum_y2", "sum_xy")}


ARMS = {"mean": _mean_arm, "prop": _prop_arm, "ratio": _ratio_arm}


def random_case(rng: np.random.Generator, test: str) -> dict[str, Any]:
    kind = str(rng.choice(list(ARMS)))
    case = {"test": test, "kind": kind, "a": ARMS[kind](rng), "b": ARMS[kind](rng)}
    case["relative"] = bool(rng.integers(2))
    case["alpha"] = float(rng.choice([0.01, 0.05, 0.1, rng.uniform(0.005, 0.3)]))
    case["tuning"] = float(rng.uniform(100, 50_000))
    scale = 0.1 if case["relative"] else 1.0
    case["prior"] = {"mean": rng.normal(0, scale), "variance": rng.uniform(0.01, 1) * scale**2}
    if rng.random() < 0.5:
        case["prior"] = None
    return case


def edge_cases() -> list[dict[str, Any]]:
    """Inputs both engines must refuse: a single unit, constant arms, a zero control mean."""
    one = {"n": 1, "total": 3.0, "total_sq": 9.0}
    const = {"n": 50, "total": 100.0, "total_sq": 200.0}
    zero = {"n": 50, "total": 0.0, "total_sq": 10.0}
    normal = {"n": 50, "total": 100.0, "total_sq": 300.0}
    pairs = [(one, normal), (normal, one), (const, const), (zero, normal)]
    return [
        {"kind": "mean", "a": a, "b": b, "relative": True, "alpha": 0.05, "tuning": 5000.0, "prior": None}
        for a, b in pairs
    ]


def cases_for(test: str, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    cases = [random_case(rng, test) for _ in range(N_CASES)]
    return cases + [{**c, "test": test} for c in edge_cases()]


def srm_cases(seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(N_CASES):
        k = int(rng.integers(2, 6))
        weights = rng.dirichlet(np.ones(k)) + 0.01
        skew = weights * rng.uniform(0.97, 1.03, size=k)
        users = rng.multinomial(int(rng.integers(10, 200_000)), skew / skew.sum())
        cases.append({"test": "srm", "users": users.tolist(), "weights": weights.tolist()})
    return cases


Oracle = dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]


@pytest.fixture(scope="module")
def oracle(gbstats_python: Path) -> Oracle:
    """``test name -> [(case, gbstats' answer)]``, from a single run of the oracle."""
    sets = {
        "ttest": cases_for("ttest", seed=1),
        "sequential": cases_for("sequential", seed=2),
        "bayes": cases_for("bayes", seed=3),
        "srm": srm_cases(seed=4),
    }
    flat = [case for cases in sets.values() for case in cases]
    answers = iter(run_oracle(gbstats_python, flat))
    return {name: [(case, next(answers)) for case in cases] for name, cases in sets.items()}


# --- our side -----------------------------------------------------------------------------------------


def arm(kind: str, s: dict[str, Any]) -> Any:
    if kind == "mean":
        return SampleStats(**s)
    if kind == "prop":
        return ProportionStats(**s)
    return RatioStats(**s)


def ours(case: dict[str, Any]) -> Any:
    a, b = arm(case["kind"], case["a"]), arm(case["kind"], case["b"])
    relative, alpha = case["relative"], case["alpha"]
    if case["test"] == "ttest":
        return welch_test(a, b, alpha=alpha, relative=relative)
    if case["test"] == "sequential":
        return confidence_sequence_test(a, b, alpha=alpha, relative=relative, tuning=case["tuning"])
    prior = NormalPrior(**case["prior"]) if case["prior"] else None
    return bayesian_effect_test(a, b, alpha=alpha, relative=relative, prior=prior)


def close(x: float, y: float, floor: float = ABS) -> bool:
    return math.isclose(x, y, rel_tol=REL, abs_tol=floor)


def check_lift(mine: LiftResult, theirs: dict[str, Any], case: dict[str, Any]) -> None:
    assert mine.ok == (theirs["error"] is None), (case, mine, theirs)
    if not mine.ok:
        return
    assert close(mine.estimate, theirs["estimate"]), (case, mine, theirs)
    assert close(mine.std_error, theirs["std_error"]), (case, mine, theirs)
    assert close(mine.ci_low, theirs["ci"][0]) and close(mine.ci_high, theirs["ci"][1]), (case, mine, theirs)
    assert close(mine.p_value, theirs["p_value"], P_ABS), (case, mine, theirs)


def test_welch_matches_gbstats_two_sided_ttest_absolute_and_relative(oracle: Oracle) -> None:
    for case, theirs in oracle["ttest"]:
        check_lift(ours(case), theirs, case)


def test_confidence_sequence_matches_gbstats_sequential_ttest(oracle: Oracle) -> None:
    for case, theirs in oracle["sequential"]:
        check_lift(ours(case), theirs, case)


def test_oracle_cases_cover_both_lifts_all_metric_kinds_and_refusals(oracle: Oracle) -> None:
    cases = [case for case, _ in oracle["ttest"]]
    assert {(c["kind"], c["relative"]) for c in cases} == {(k, r) for k in ARMS for r in (False, True)}
    assert sum(theirs["error"] is not None for _, theirs in oracle["ttest"]) >= len(edge_cases())


def test_bayesian_effect_matches_gbstats_chance_to_win_and_risk(oracle: Oracle) -> None:
    for case, theirs in oracle["bayes"]:
        mine = ours(case)
        assert mine.ok == (theirs["error"] is None), (case, mine, theirs)
        if not mine.ok:
            continue
        assert close(mine.chance_to_win, theirs["chance_to_win"]), (case, mine, theirs)
        assert close(mine.risk_control, theirs["risk"][0]), (case, mine, theirs)
        assert close(mine.risk_treatment, theirs["risk"][1]), (case, mine, theirs)
        assert close(mine.estimate, theirs["estimate"]) and close(mine.std_dev, theirs["std_dev"])
        assert close(mine.ci_low, theirs["ci"][0]) and close(mine.ci_high, theirs["ci"][1])


def test_srm_matches_gbstats_check_srm(oracle: Oracle) -> None:
    for case, theirs in oracle["srm"]:
        mine = srm_test(case["users"], case["weights"])
        assert close(mine.p_value, theirs["p_value"], P_ABS), (case, mine, theirs)
