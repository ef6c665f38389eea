"""A prompt's scoring: the weights of its composite score and the other ``ScoringConfig`` fields, read
with the defaults filled in and changed by partial merges (docs/scoring.md).

Mirrors the autopilot policy's routes: ``GET`` [read] and ``PATCH`` [admin], whose body holds only the
fields that change (weights merge one by one), validated whole after the merge and written in one
audited registry change (``registry.update_scoring``). A refusal (401, 403, 404, 409, 422) writes
nothing. There is no ``DELETE``: a prompt always has a scoring, stored or the defaults, and ``PATCH``
with the default values restores them. Experiments already created keep the copy they took.
"""

from __future__ import annotations

import pydantic
from fastapi import APIRouter

from promptevolve.api.deps import AdminKey, ReadKey, ServicesDep, actor
from promptevolve.api.errors import body_invalid, problem_responses
from promptevolve.api.params import PromptName
from promptevolve.api.schemas import ScoringUpdate
from promptevolve.registry import PromptScoring, scoring_of, update_scoring

__all__ = ["router"]

router = APIRouter(tags=["scoring"])

_ANSWERS = problem_responses(401, 403, 404, 409, 422)


@router.get(
    "/prompts/{name}/scoring",
    summary="A prompt's scoring in effect, defaults filled in, and whether it is stored [read]",
    responses=_ANSWERS,
)
def get_scoring(name: PromptName, services: ServicesDep, key: ReadKey) -> PromptScoring:
    return scoring_of(services.registry, name)


@router.patch(
    "/prompts/{name}/scoring",
    summary="Change a prompt's scoring: the fields given, merged and validated whole (audited) [admin]",
    responses=_ANSWERS,
)
def change_scoring(
    name: PromptName, body: ScoringUpdate, services: ServicesDep, key: AdminKey
) -> PromptScoring:
    changes = body.model_dump(mode="json", exclude_unset=True)
    try:
        return update_scoring(services.registry, name, changes, actor=actor(key))
    except pydantic.ValidationError as exc:  # the merged result: at least one weight above 0
        raise body_invalid(exc) from None
