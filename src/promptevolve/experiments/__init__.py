"""A/B experiments and bandits between prompt variants: lifecycle, decisions, safe rollout, reports.

``ExperimentService`` is the entry point (create → start → analyze … → promoted / rolled back / stopped,
every decision in the ``decisions`` table). The parts, one job a module:

- ``models``: the public shapes (``ExperimentCreate``, ``ExperimentInfo``, ``AnalysisResult``, …);
- ``plan``: the plan and running state as frozen values, stored in ``experiments.config``;
- ``procedures``: one comparison under the sequential, mSPRT, fixed-horizon or Bayesian procedure;
- ``rollout``: ramp ladder, shares per step, step readiness (pure);
- ``looks``: the comparisons of one look (guardrails, primary metric, SRM), pure;
- ``decide``: the decision rule, pure (clock and random generator passed in);
- ``sums``: per-arm sufficient statistics in SQL (units, Σx, Σx², …), and over time;
- ``reporting``: analysis results and the lift over time; ``chart``: the self-contained HTML report;
- ``service``: transactions, locks, the decision log, promotion and rollback through the registry.

Status flow: ``draft → ramping → running → (ramping →) concluded``, or ``rolled_back`` on guardrail
harm, ``stopped`` by hand; ``paused`` in between. Routing (``registry.serving``) follows the arms'
shares while the status is ``ramping`` or ``running``.
"""

from promptevolve.experiments.models import (
    DEFAULT_GUARDRAILS,
    AnalysisResult,
    ArmInfo,
    ArmResult,
    DecisionRecord,
    ExperimentCreate,
    ExperimentInfo,
    ExperimentReport,
    GuardrailResult,
    GuardrailSpec,
    LiftInfo,
    SeriesPoint,
    SrmInfo,
)
from promptevolve.experiments.plan import DEFAULT_LADDER, ExperimentStatus
from promptevolve.experiments.report_page import report_html
from promptevolve.experiments.service import ExperimentService

__all__ = [
    "DEFAULT_GUARDRAILS",
    "DEFAULT_LADDER",
    "AnalysisResult",
    "ArmInfo",
    "ArmResult",
    "DecisionRecord",
    "ExperimentCreate",
    "ExperimentInfo",
    "ExperimentReport",
    "ExperimentService",
    "ExperimentStatus",
    "GuardrailResult",
    "GuardrailSpec",
    "LiftInfo",
    "SeriesPoint",
    "SrmInfo",
    "report_html",
]
