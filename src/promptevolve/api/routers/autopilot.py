"""The autopilot: where each prompt stands, its policy (read, change, remove) and a person's approval
or rejection of a candidate that passed the gate under ``propose``. See docs/autopilot.md.

Passes are not run here: they belong to ``promptevolve autopilot run --once`` (cron) or ``autopilot
serve``, and a round of evolution may take minutes. An approval starts the candidate's A/B test within
the request when no other autopilot holds the prompt and no experiment is live, else at the next pass.
"""

from __future__ import annotations

from typing import Annotated

import pydantic
from fastapi import APIRouter, Query, Response

from promptevolve.api import queries
from promptevolve.api.deps import AdminKey, ReadKey, ServicesDep, actor
from promptevolve.api.errors import body_invalid, problem_responses
from promptevolve.api.params import PromptName
from promptevolve.api.schemas import ApproveCreate, AutopilotStatusPublic, PolicyUpdate, RejectCreate
from promptevolve.autopilot import Policy, StepRecord, remove_policy, update_policy
from promptevolve.core.errors import NotFoundError
from promptevolve.registry.models import NAME_PATTERN

__all__ = ["router"]

router = APIRouter(tags=["autopilot"])

PromptNames = Annotated[
    list[Annotated[str, pydantic.StringConstraints(pattern=NAME_PATTERN.pattern)]] | None,
    Query(max_length=100, description="Only these prompts, with or without a policy (repeatable)"),
]

_ANSWERS = problem_responses(401, 403, 404, 409, 422)


def _no_policy(name: str) -> NotFoundError:
    return NotFoundError(
        f"prompt {name!r} has no autopilot policy: PATCH /prompts/{name}/autopilot with "
        '{"autonomy": "observe"} (or propose, autonomous) gives it one'
    )


@router.get(
    "/autopilot/status",
    summary="Per prompt: step, policy, budget left today, drift, lease and last decisions [read]",
    responses=problem_responses(401, 403, 404, 422),
)
def status(
    services: ServicesDep,
    key: ReadKey,
    prompt: PromptNames = None,
    last: Annotated[int, Query(ge=1, le=100, description="Last decisions per prompt")] = 5,
) -> AutopilotStatusPublic:
    return queries.autopilot_status(services.store, services.registry, prompts=prompt, last=last)


@router.get("/prompts/{name}/autopilot", summary="A prompt's autopilot policy [read]", responses=_ANSWERS)
def get_policy(name: PromptName, services: ServicesDep, key: ReadKey) -> Policy:
    policy = queries.stored_policy(services.registry, name)
    if policy is None:
        raise _no_policy(name)
    return policy


@router.patch(
    "/prompts/{name}/autopilot",
    summary="Create or change a policy: the fields given, merged and validated whole (audited) [admin]",
    responses=_ANSWERS,
)
def change_policy(name: PromptName, body: PolicyUpdate, services: ServicesDep, key: AdminKey) -> Policy:
    queries.stored_policy(services.registry, name)  # 404 unknown prompt, 409 unreadable policy
    changes = body.model_dump(mode="json", exclude_unset=True)
    try:
        return update_policy(services.registry, name, changes, actor=actor(key))
    except pydantic.ValidationError as exc:  # checks of the merged policy: time zone, experiment plan, …
        raise body_invalid(exc) from None


@router.delete(
    "/prompts/{name}/autopilot",
    status_code=204,
    summary="Take the prompt away from the autopilot (audited) [admin]",
    responses=problem_responses(401, 403, 404, 422),
)
def remove(name: PromptName, services: ServicesDep, key: AdminKey) -> Response:
    if not queries.has_policy(services.registry, name):  # an unreadable policy can still be removed
        raise _no_policy(name)
    remove_policy(services.registry, name, actor=actor(key))
    return Response(status_code=204)


@router.post(
    "/prompts/{name}/autopilot/approve",
    summary="Approve the candidate awaiting approval: its A/B test starts now or at the next pass [admin]",
    responses=_ANSWERS,
)
def approve(name: PromptName, body: ApproveCreate, services: ServicesDep, key: AdminKey) -> StepRecord:
    who = actor(key)
    return services.autopilot(who).approve(name, body.version, actor=who)


@router.post(
    "/prompts/{name}/autopilot/reject",
    status_code=204,
    summary="Set the candidate awaiting approval aside; the autopilot evolves again later [admin]",
    responses=_ANSWERS,
)
def reject(name: PromptName, body: RejectCreate, services: ServicesDep, key: AdminKey) -> Response:
    who = actor(key)
    services.autopilot(who).reject(name, body.version, actor=who, reason=body.reason)
    return Response(status_code=204)
