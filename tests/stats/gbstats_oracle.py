"""Run GrowthBook's gbstats 0.8.0 on cases read as JSON from stdin; print its results as JSON.

Runs inside the isolated virtual environment that ``test_gbstats_oracle.py`` builds (gbstats pins
numpy < 2, the project uses numpy 2), never in the project's own environment. Input: a JSON list of
cases, each ``{"test": "ttest" | "sequential" | "bayes" | "srm", ...}``; output: a JSON list of the same
length with gbstats' numbers (``error`` is gbstats' error message, ``None`` when it computed a result).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig, GaussianPrior
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import ProportionStatistic, RatioStatistic, SampleMeanStatistic
from gbstats.utils import check_srm


def statistic(kind: str, s: dict[str, Any]) -> Any:
    if kind == "mean":
        return SampleMeanStatistic(n=s["n"], sum=s["total"], sum_squares=s["total_sq"])
    if kind == "prop":
        return ProportionStatistic(n=s["n"], sum=s["successes"])
    return RatioStatistic(
        n=s["n"],
        m_statistic=SampleMeanStatistic(n=s["n"], sum=s["sum_x"], sum_squares=s["sum_x2"]),
        d_statistic=SampleMeanStatistic(n=s["n"], sum=s["sum_y"], sum_squares=s["sum_y2"]),
        m_d_sum_of_products=s["sum_xy"],
    )


def frequentist(case: dict[str, Any]) -> dict[str, Any]:
    a, b = statistic(case["kind"], case["a"]), statistic(case["kind"], case["b"])
    difference = "relative" if case["relative"] else "absolute"
    if case["test"] == "ttest":
        test = TwoSidedTTest(a, b, FrequentistConfig(alpha=case["alpha"], difference_type=difference))
    else:
        config = SequentialConfig(
            alpha=case["alpha"], difference_type=difference, sequential_tuning_parameter=case["tuning"]
        )
        test = SequentialTwoSidedTTest(a, b, config)
    r = test.compute_result()
    return {
        "estimate": r.expected,
        "ci": list(r.ci),
        "p_value": r.p_value,
        "std_error": r.uplift.stddev,
        "error": r.error_message,
    }


def bayes(case: dict[str, Any]) -> dict[str, Any]:
    a, b = statistic(case["kind"], case["a"]), statistic(case["kind"], case["b"])
    difference = "relative" if case["relative"] else "absolute"
    prior = case["prior"]
    effect = GaussianPrior(prior["mean"], prior["variance"], True) if prior else GaussianPrior()
    config = EffectBayesianConfig(
        alpha=case["alpha"], difference_type=difference, prior_type=difference, prior_effect=effect
    )
    r = EffectBayesianABTest(a, b, config).compute_result()
    return {
        "estimate": r.expected,
        "ci": list(r.ci),
        "std_dev": r.uplift.stddev,
        "chance_to_win": r.chance_to_win,
        "risk": list(r.risk),
        "error": r.error_message,
    }


def run(case: dict[str, Any]) -> dict[str, Any]:
    if case["test"] in ("ttest", "sequential"):
        return frequentist(case)
    if case["test"] == "bayes":
        return bayes(case)
    return {"p_value": float(check_srm(case["users"], case["weights"]))}


def main() -> None:
    cases = json.load(sys.stdin)
    json.dump([run(case) for case in cases], sys.stdout, default=float)


if __name__ == "__main__":
    main()
