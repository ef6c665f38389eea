"""The autopilot's public shapes: what a pass did, and where each prompt stands (for the CLI and API).

Pydantic models, because they cross to the CLI (``--json``), the API and the dashboard unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from promptevolve.autopilot.policy import Policy
from promptevolve.experiments import DecisionRecord

__all__ = [
    "AutopilotStatus",
    "BudgetStatus",
    "DriftStatus",
    "ExperimentSummary",
    "LeaseStatus",
    "PassReport",
    "PromptPass",
    "PromptStatus",
    "StepName",
    "StepRecord",
]


class StepRecord(BaseModel):
    """One thing a pass did or decided for a prompt (its own entries and its experiment's)."""

    action: str
    reason: str
    figures: dict[str, Any] = Field(default_factory=dict)
    logged: bool = Field(description="Written to the decision log (a repeated skip is not)")
    decision_id: int | None = None
    experiment_id: int | None = None


class PromptPass(BaseModel):
    prompt: str
    outcome: Literal["done", "locked", "no_policy", "disabled", "error"]
    steps: list[StepRecord] = Field(default_factory=list)
    error: str | None = None
    lease_holder: str | None = Field(default=None, description="Who held the lease when locked")


class PassReport(BaseModel):
    holder: str
    started_at: datetime
    finished_at: datetime
    prompts: list[PromptPass]
    notifications_pending: int = Field(default=0, description="Deliveries still queued at the end")

    @property
    def logged(self) -> list[StepRecord]:
        return [step for p in self.prompts for step in p.steps if step.logged]


StepName = Literal[
    "no_policy",
    "disabled",
    "observing",
    "quiet_hours",
    "idle",
    "evolving",
    "awaiting_approval",
    "experiment_running",
    "ramping",
    "paused",
]


class BudgetStatus(BaseModel):
    day: str
    calls_used: int
    calls_limit: int
    tokens_used: int
    tokens_limit: int | None
    rounds: int

    @property
    def calls_left(self) -> int:
        return max(self.calls_limit - self.calls_used, 0)

    @property
    def tokens_left(self) -> int | None:
        return None if self.tokens_limit is None else max(self.tokens_limit - self.tokens_used, 0)


class LeaseStatus(BaseModel):
    holder: str
    phase: str | None
    expires_in_s: float


class DriftStatus(BaseModel):
    enabled: bool
    monitored_batches: dict[str, int]
    reference_progress: dict[str, float] = Field(description="Share of the reference collected, per series")
    pending_alarm: dict[str, Any] | None


class ExperimentSummary(BaseModel):
    id: int
    status: str
    control: str
    treatment: str | None
    treatment_share: float | None = Field(description="Percent of traffic on the treatment")


class PromptStatus(BaseModel):
    prompt: str
    step: StepName
    detail: str
    serving: str | None
    policy: Policy | None
    experiment: ExperimentSummary | None = None
    candidate: str | None = Field(default=None, description="A gated candidate waiting for its A/B test")
    budget: BudgetStatus | None = None
    lease: LeaseStatus | None = None
    drift: DriftStatus | None = None
    last_actions: list[DecisionRecord] = Field(default_factory=list)


class AutopilotStatus(BaseModel):
    at: datetime
    prompts: list[PromptStatus]
