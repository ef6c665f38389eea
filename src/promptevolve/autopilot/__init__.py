"""The autopilot: the closed loop feedback → evolution → gate → A/B test → ramp → promotion, by itself,
within the policies and budgets a team sets (docs/autopilot.md).

One job a module:

- ``policy``: per-prompt policies in ``prompts.config["autopilot"]`` (audited): autonomy, triggers,
  daily budget, experiment plan, drift settings, quiet hours, webhook;
- ``drift``: a one-sided CUSUM on batch means, pure; ``watch`` feeds it the serving variant's executions;
- ``decide``: the next step for a prompt from gathered facts, pure;
- ``leases``: one autopilot per prompt at a time, held in the store, expiring when a holder dies;
- ``budget``: the daily ledger of evolution calls and tokens, never overdrawn;
- ``journal``: the autopilot's entries in the decision log, written once per state;
- ``candidates``: what each evolution round produced and where it stands (a table with a status,
  moved by the journal's entries in the same transaction); the pass reads its pending candidate there;
- ``notify``: signed webhooks, retried on a background thread; ``outbox``: the same events stored
  first and delivered by the job engine (``promptevolve.jobs``);
- ``pilot``: ``Autopilot`` (``run_once``, ``serve``, ``approve``, ``reject``);
- ``status``: ``autopilot_status``, where each prompt stands;
"""

from promptevolve.autopilot.decide import Facts, Step, StepKind, next_step
from promptevolve.autopilot.drift import (
    Alarm,
    CusumParams,
    CusumState,
    Direction,
    arl_normal,
    observe,
    run_length,
)
from promptevolve.autopilot.models import (
    AutopilotStatus,
    BudgetStatus,
    DriftStatus,
    ExperimentSummary,
    LeaseStatus,
    PassReport,
    PromptPass,
    PromptStatus,
    StepRecord,
)
from promptevolve.autopilot.notify import Event, Notifier, sign, verify
from promptevolve.autopilot.pilot import Autopilot
from promptevolve.autopilot.policy import (
    Autonomy,
    DriftPolicy,
    EvolutionPolicy,
    ExperimentPolicy,
    Policy,
    QuietHours,
    get_policy,
    list_policies,
    remove_policy,
    update_policy,
)
from promptevolve.autopilot.settings import AutopilotSettings, load_autopilot_settings
from promptevolve.autopilot.status import autopilot_status, prompt_status

__all__ = [
    "Alarm",
    "Autonomy",
    "Autopilot",
    "AutopilotSettings",
    "AutopilotStatus",
    "BudgetStatus",
    "CusumParams",
    "CusumState",
    "Direction",
    "DriftPolicy",
    "DriftStatus",
    "Event",
    "EvolutionPolicy",
    "ExperimentPolicy",
    "ExperimentSummary",
    "Facts",
    "LeaseStatus",
    "Notifier",
    "PassReport",
    "Policy",
    "PromptPass",
    "PromptStatus",
    "QuietHours",
    "Step",
    "StepKind",
    "StepRecord",
    "arl_normal",
    "autopilot_status",
    "get_policy",
    "list_policies",
    "load_autopilot_settings",
    "next_step",
    "observe",
    "prompt_status",
    "remove_policy",
    "run_length",
    "sign",
    "update_policy",
    "verify",
]
