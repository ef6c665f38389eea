"""Variants: register (immutable, versioned by content), list, read, activate and deactivate."""

from __future__ import annotations

from fastapi import APIRouter, Response

from promptevolve.api.deps import AdminKey, PaginationDep, ReadKey, ServicesDep, actor
from promptevolve.api.errors import problem_responses
from promptevolve.api.params import PromptName, Version
from promptevolve.api.schemas import ActivateCreate, Page, ReasonCreate
from promptevolve.registry import RegisterResult, VariantCreate, VariantInfo

__all__ = ["router"]

router = APIRouter(tags=["variants"])

_READ = problem_responses(401, 403, 404, 422)
_WRITE = problem_responses(401, 403, 404, 409, 422)


@router.post(
    "/variants",
    status_code=201,
    summary="Register a variant (new prompt or new version); same content returns the existing one [admin]",
    responses={
        200: {"model": RegisterResult, "description": "Identical content was already registered"},
        **problem_responses(401, 403, 409, 422),
    },
)
def register(body: VariantCreate, services: ServicesDep, key: AdminKey, response: Response) -> RegisterResult:
    result = services.registry.register(body, actor=actor(key))
    if not result.created:
        response.status_code = 200
    return result


@router.get("/prompts/{name}/variants", summary="A prompt's variants, by version [read]", responses=_READ)
def list_variants(
    name: PromptName, services: ServicesDep, key: ReadKey, page: PaginationDep
) -> Page[VariantInfo]:
    return page.page(services.registry.list_variants(name))


@router.get("/prompts/{name}/variants/{version}", summary="One variant [read]", responses=_READ)
def get_variant(name: PromptName, version: Version, services: ServicesDep, key: ReadKey) -> VariantInfo:
    return services.registry.get_variant(name, version)


@router.post(
    "/prompts/{name}/variants/{version}/activate",
    summary="Make a variant serve, at a share or exclusively [admin]",
    responses=_WRITE,
)
def activate(
    name: PromptName, version: Version, body: ActivateCreate, services: ServicesDep, key: AdminKey
) -> VariantInfo:
    return services.registry.activate(
        name, version, share=body.share, exclusive=body.exclusive, actor=actor(key), reason=body.reason
    )


@router.post(
    "/prompts/{name}/variants/{version}/deactivate",
    summary="Stop serving a variant [admin]",
    responses=_WRITE,
)
def deactivate(
    name: PromptName, version: Version, body: ReasonCreate, services: ServicesDep, key: AdminKey
) -> VariantInfo:
    return services.registry.deactivate(name, version, actor=actor(key), reason=body.reason)
