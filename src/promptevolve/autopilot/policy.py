"""Autopilot policies: what the autopilot may do for one prompt, stored in ``prompts.config["autopilot"]``.

A policy says how much autonomy the autopilot has (``observe``: only report; ``propose``: evolve and
gate, then wait for a person's ``approve``; ``autonomous``: start A/B tests and promote by the decision
rules), when to evolve (enough new feedback since the last round, or a drift alarm), how much evolution
may spend per day (model calls and tokens), the plan of the A/B tests it starts (guardrails and their
tolerances, alpha, MDE, ramp ladder), the drift detector's settings, quiet hours and an optional webhook.

**Why in ``prompts.config`` and not a table of its own**: a policy is per-prompt configuration like the
scoring weights next to it, so it is changed only through ``Registry.update_config``, which locks the
prompt row and writes the audit log (who, when, before, after) in the same transaction; ``promptevolve
prompt history`` shows policy changes beside activations; and the API can serve it from the prompt
without a join. What changes on every pass (leases, the budget ledger, the detector's sums) is runtime
state and lives in the autopilot's tables instead, so a pass never writes to the audit log.

Secrets never go into a policy (the audit log keeps every version of it): the webhook secret is read
from the environment (``PROMPTEVOLVE_WEBHOOK_SECRET``, or the variable the policy names).

``update_policy`` merges a partial change into the current policy (nested keys merge), validates the
result as a whole and writes it in one audited change; a refused change writes nothing.

**Stored versioned** (``policy_to_stored`` / ``policy_from_stored``): the document carries ``version``
(``POLICY_VERSION``), so a later release that changes the fields upgrades an older document as it
reads it (``_UPGRADES``) instead of guessing its shape. A document without one was written before
versions existed (version 0, the fields of version 1); one from a newer release is refused, naming its
version. The version is the stored form's, not the policy's: the API and the CLI show the policy alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from promptevolve.autopilot.decide import Autonomy
from promptevolve.evolution import CLASSIFICATION_STRATEGIES, DEFAULT_STRATEGIES
from promptevolve.experiments import DEFAULT_GUARDRAILS, DEFAULT_LADDER, ExperimentCreate, GuardrailSpec
from promptevolve.registry import Registry

__all__ = [
    "CONFIG_KEY",
    "POLICY_VERSION",
    "Autonomy",
    "DriftPolicy",
    "EvolutionPolicy",
    "ExperimentPolicy",
    "Policy",
    "QuietHours",
    "get_policy",
    "list_policies",
    "local_day",
    "merge_changes",
    "policy_from_stored",
    "policy_names",
    "policy_to_stored",
    "remove_policy",
    "update_policy",
]

#: The key of ``prompts.config`` that holds the policy.
CONFIG_KEY = "autopilot"

_HOURS = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?\s*$")


class QuietHours(BaseModel):
    """A daily window (local time of the policy's time zone) in which the autopilot changes nothing."""

    model_config = ConfigDict(frozen=True)

    start_minute: int = Field(ge=0, lt=24 * 60)
    end_minute: int = Field(ge=0, lt=24 * 60)

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """``"22-06"`` or ``"22:30-06:00"``; a window may cross midnight."""
        match = _HOURS.match(text)
        if match is None:
            raise ValueError(f"bad quiet hours {text!r}: expected HH[:MM]-HH[:MM], e.g. 22-06")
        h1, m1, h2, m2 = (int(x) if x else 0 for x in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"bad quiet hours {text!r}: hours 0-23, minutes 0-59")
        if (h1, m1) == (h2, m2):
            raise ValueError(f"bad quiet hours {text!r}: start and end are the same time")
        return cls(start_minute=h1 * 60 + m1, end_minute=h2 * 60 + m2)

    def contains(self, minute_of_day: int) -> bool:
        if self.start_minute < self.end_minute:
            return self.start_minute <= minute_of_day < self.end_minute
        return minute_of_day >= self.start_minute or minute_of_day < self.end_minute

    def __str__(self) -> str:
        a, b = divmod(self.start_minute, 60), divmod(self.end_minute, 60)
        return f"{a[0]:02d}:{a[1]:02d}-{b[0]:02d}:{b[1]:02d}"


class EvolutionPolicy(BaseModel):
    """When and how to evolve."""

    model_config = ConfigDict(extra="forbid")

    min_feedback: int = Field(
        default=50, ge=1, description="Executions with new feedback since the last round"
    )
    round_calls: int = Field(default=200, ge=1, description="At most this many model calls per round")
    round_tokens: int | None = Field(default=None, ge=1, description="At most this many tokens per round")
    strategies: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Strategies in the order tried; default: chosen by the task, as `evolve` does "
        f"({', '.join(CLASSIFICATION_STRATEGIES)} when the evaluator declares labels, else "
        f"{', '.join(DEFAULT_STRATEGIES)})",
    )
    dataset: str | None = Field(
        default=None, description="Evolve on this dataset; default: one built from production feedback"
    )
    evaluator: str | None = Field(default=None, description="Default: the dataset's, else exact")
    evaluator_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword options of the evaluator, e.g. {'labels': ['spam', 'ham']}: a classification",
    )
    max_items: int | None = Field(default=30, ge=2, description="Items per split at most (bounds the cost)")
    minibatch: int = Field(default=6, ge=1)
    children: int = Field(default=2, ge=1, le=8)
    finalists: int = Field(default=2, ge=1, le=8)
    max_generations: int = Field(default=60, ge=1)
    proposer: str | None = Field(default=None, description="Provider that writes candidates")


class ExperimentPolicy(BaseModel):
    """The plan of every A/B test the autopilot starts (see ``ExperimentCreate``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    metric: str = "composite"
    guardrails: list[GuardrailSpec] = Field(default_factory=lambda: list(DEFAULT_GUARDRAILS))
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5)
    mde: float = Field(default=0.05, gt=0.0)
    min_sample: int | None = Field(default=None, ge=2)
    procedure: Literal["sequential", "msprt", "fixed", "bayesian"] = "sequential"
    ramp: list[float] = Field(default_factory=lambda: list(DEFAULT_LADDER))
    min_units_per_step: int = Field(default=100, ge=1)
    step_margin: float = Field(default=1.5, ge=1.0)
    guardrail_min_units: int = Field(default=50, ge=2)
    srm_grace_s: float = Field(default=60.0, ge=0.0)

    def create(self, prompt: str, control: str, treatment: str, name: str) -> ExperimentCreate:
        return ExperimentCreate(
            prompt=prompt,
            control=control,
            treatments=[treatment],
            name=name,
            **self.model_dump(),
        )

    @model_validator(mode="after")
    def _valid_plan(self) -> ExperimentPolicy:
        # The same checks as a real experiment, at the time the policy is written, not at 3 a.m.
        self.create("p", "1.0.0", "1.1.0", "check")
        return self


class DriftPolicy(BaseModel):
    """The drift detector (``autopilot.drift``) and what a severe drop does."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    enabled: bool = True
    batch: int = Field(default=50, ge=1, description="Executions per observation (their mean)")
    reference_batches: int = Field(default=40, ge=2, description="Batches that set the reference level")
    allowance: float = Field(default=0.5, gt=0.0, description="CUSUM k, in sd of a batch mean")
    threshold: float = Field(default=8.0, gt=0.0, description="CUSUM h, in sd of a batch mean")
    settle_s: float = Field(default=3600.0, ge=0.0, description="Wait for feedback this long before use")
    rollback_drop: float | None = Field(
        default=0.15, gt=0.0, description="Composite drop that rolls back (autonomous); None: never"
    )
    rollback_error_rate: float | None = Field(
        default=0.10, gt=0.0, description="Error-rate rise that rolls back (autonomous); None: never"
    )


class Policy(BaseModel):
    """One prompt's autopilot policy (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    autonomy: Autonomy = Autonomy.OBSERVE
    daily_calls: int = Field(default=500, ge=0, description="Evolution model calls per day")
    daily_tokens: int | None = Field(default=None, ge=0, description="Evolution tokens per day")
    quiet_hours: QuietHours | None = None
    timezone: str = "UTC"
    webhook_url: str | None = Field(default=None, description="Default: PROMPTEVOLVE_WEBHOOK_URL")
    webhook_secret_env: str = Field(
        default="PROMPTEVOLVE_WEBHOOK_SECRET", description="Environment variable holding the secret"
    )
    evolution: EvolutionPolicy = Field(default_factory=EvolutionPolicy)
    experiment: ExperimentPolicy = Field(default_factory=ExperimentPolicy)
    drift: DriftPolicy = Field(default_factory=DriftPolicy)

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _parse_quiet(cls, value: Any) -> Any:
        if isinstance(value, str):
            return None if value.strip().lower() in ("", "none", "off") else QuietHours.parse(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as Europe/Paris") from None
        return value

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"webhook_url must start with http:// or https://, got {value!r}")
        return value

    def is_quiet(self, now: float) -> bool:
        if self.quiet_hours is None:
            return False
        local = datetime.fromtimestamp(now, UTC).astimezone(ZoneInfo(self.timezone))
        return self.quiet_hours.contains(local.hour * 60 + local.minute)

    def to_config(self) -> dict[str, Any]:
        doc = self.model_dump(mode="json")
        doc["quiet_hours"] = str(self.quiet_hours) if self.quiet_hours else None
        return doc


def local_day(now: float, timezone: str) -> str:
    """The budget day (``YYYY-MM-DD``) of ``now`` in ``timezone``."""
    return datetime.fromtimestamp(now, UTC).astimezone(ZoneInfo(timezone)).date().isoformat()


def merge_changes(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied; nested mappings merge, anything else replaces."""
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_changes(out[key], value)
        else:
            out[key] = value
    return out


#: The version of the stored form of a policy (``policy_to_stored``).
POLICY_VERSION = 1

#: ``_UPGRADES[v]`` turns a stored document of version ``v`` into one of version ``v + 1``. Version 0 (no
#: ``version`` key: written before versions existed) has version 1's fields.
_UPGRADES: tuple[Callable[[dict[str, Any]], dict[str, Any]], ...] = (lambda doc: doc,)


def policy_to_stored(policy: Policy) -> dict[str, Any]:
    """The document stored in ``prompts.config["autopilot"]``: the policy and its form's version."""
    return {"version": POLICY_VERSION, **policy.to_config()}


def policy_from_stored(doc: Mapping[str, Any]) -> Policy:
    """The policy a stored document holds, upgraded from its version; ``ValueError`` (a pydantic
    ``ValidationError`` for a bad field) names what is wrong."""
    body = dict(doc)
    version = body.pop("version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version <= POLICY_VERSION:
        raise ValueError(
            f"version: {version!r} is not a policy version this release reads (up to {POLICY_VERSION}); "
            "it was written by another release of promptevolve"
        )
    for upgrade in _UPGRADES[version:]:
        body = upgrade(body)
    return Policy.model_validate(body)


def _from_config(config: Mapping[str, Any] | None) -> Policy | None:
    doc = (config or {}).get(CONFIG_KEY)
    return policy_from_stored(doc) if doc else None


def get_policy(registry: Registry, prompt: str) -> Policy | None:
    """The prompt's policy, or None when it has none (the autopilot leaves it alone)."""
    return _from_config(registry.get_config(prompt))  # the registry's NotFoundError for an unknown one


def policy_names(registry: Registry) -> list[str]:
    """Prompts that have a policy, valid or not (a pass reports an invalid one instead of failing)."""
    return [name for name, config in registry.configs() if config.get(CONFIG_KEY)]


def list_policies(registry: Registry) -> dict[str, Policy]:
    """Every prompt that has a valid policy, by name."""
    out: dict[str, Policy] = {}
    for name in policy_names(registry):
        try:
            policy = get_policy(registry, name)
        except ValueError:  # written by another version of promptevolve: `status NAME` shows why
            continue
        if policy is not None:
            out[name] = policy
    return out


def update_policy(
    registry: Registry, prompt: str, changes: Mapping[str, Any] | Policy, *, actor: str | None = None
) -> Policy:
    """Create or change a prompt's policy: ``changes`` (a partial dict, nested keys merge, or a whole
    ``Policy``) over the current one (or the defaults), validated whole, written as one audited change."""
    current = get_policy(registry, prompt) or Policy()
    if isinstance(changes, Policy):
        policy = changes
    else:  # a pydantic ValidationError names every bad field (the CLI and API map it)
        policy = Policy.model_validate(merge_changes(current.to_config(), changes))
    registry.update_config(prompt, {CONFIG_KEY: policy_to_stored(policy)}, actor=actor)
    return policy


def remove_policy(registry: Registry, prompt: str, *, actor: str | None = None) -> None:
    """Take the prompt away from the autopilot (audited)."""
    registry.update_config(prompt, {CONFIG_KEY: None}, actor=actor)
