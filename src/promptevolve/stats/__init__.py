"""Pure statistics for A/B experiments over sufficient statistics (n, Σy, Σy² per arm).

No I/O, no global state, randomness only from a NumPy ``Generator`` passed in. Modelled on GrowthBook's
gbstats: plain functions over frozen, additive sufficient-statistic objects; too little data gives a
result with a ``Status`` instead of an exception. gbstats 0.8.0 is the test oracle
(``tests/stats/test_gbstats_oracle.py``).

- ``sufficient``: ``SampleStats``, ``ProportionStats``, ``RatioStats`` (the ``ArmStats`` protocol)
- ``ratio``: the delta method for ratio metrics and relative lift
- ``result``: ``Status``, ``LiftResult`` and the data checks shared by the tests
- ``fixed``: Welch's t-test, the two-proportion z-test (fixed horizon)
- ``sequential``: confidence sequences (the default procedure) and the mSPRT (always valid)
- ``bayesian``: chance to beat control and expected loss (normal effect model, beta-binomial)
- ``srm``: sample-ratio mismatch (χ²)
- ``power``: sample size and power
- ``multiple``: Holm and Benjamini–Hochberg adjustments
"""

from promptevolve.stats.bayesian import (
    BayesianResult,
    NormalPrior,
    bayesian_effect_test,
    beta_binomial_test,
    normal_risks,
)
from promptevolve.stats.fixed import two_proportion_z_test, welch_df, welch_test
from promptevolve.stats.multiple import benjamini_hochberg, holm
from promptevolve.stats.power import (
    power_at_n,
    proportion_power_at_n,
    proportion_sample_size,
    sample_size_per_arm,
)
from promptevolve.stats.ratio import LiftEstimate, estimate_lift, lift, lift_variance, ratio_variance
from promptevolve.stats.result import LiftResult, Status, check_arms, checked_lift
from promptevolve.stats.sequential import (
    DEFAULT_TUNING,
    confidence_sequence_test,
    cs_half_width,
    cs_p_value,
    msprt_half_width,
    msprt_p_value,
    msprt_test,
    sequential_rho,
)
from promptevolve.stats.srm import SRM_THRESHOLD, SrmResult, srm_blocks, srm_test
from promptevolve.stats.sufficient import ArmStats, ProportionStats, RatioStats, SampleStats

__all__ = [
    "DEFAULT_TUNING",
    "SRM_THRESHOLD",
    "ArmStats",
    "BayesianResult",
    "LiftEstimate",
    "LiftResult",
    "NormalPrior",
    "ProportionStats",
    "RatioStats",
    "SampleStats",
    "SrmResult",
    "Status",
    "bayesian_effect_test",
    "benjamini_hochberg",
    "beta_binomial_test",
    "check_arms",
    "checked_lift",
    "confidence_sequence_test",
    "cs_half_width",
    "cs_p_value",
    "estimate_lift",
    "holm",
    "lift",
    "lift_variance",
    "msprt_half_width",
    "msprt_p_value",
    "msprt_test",
    "normal_risks",
    "power_at_n",
    "proportion_power_at_n",
    "proportion_sample_size",
    "ratio_variance",
    "sample_size_per_arm",
    "sequential_rho",
    "srm_blocks",
    "srm_test",
    "two_proportion_z_test",
    "welch_df",
    "welch_test",
]
