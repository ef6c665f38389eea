"""Prompts: list and read them, their audit history, lineage and diffs; shares, labels and rollback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from promptevolve.api.deps import AdminKey, PaginationDep, ReadKey, ServicesDep, actor
from promptevolve.api.errors import problem_responses
from promptevolve.api.params import VERSION_PATTERN, Label, PromptName, VersionQuery
from promptevolve.api.schemas import LabelCreate, LineagePublic, Page, RollbackCreate, SharesCreate
from promptevolve.registry import AuditRecord, PromptSummary, VariantDiff, VariantInfo

__all__ = ["router"]

router = APIRouter(prefix="/prompts", tags=["prompts"])

_READ = problem_responses(401, 403, 404, 422)
_WRITE = problem_responses(401, 403, 404, 409, 422)


@router.get(
    "",
    summary="Prompts with their active versions and labels [read]",
    responses=problem_responses(401, 403, 422),
)
def list_prompts(services: ServicesDep, key: ReadKey, page: PaginationDep) -> Page[PromptSummary]:
    return page.page(services.registry.list_prompts())


@router.get("/{name}", summary="One prompt [read]", responses=_READ)
def get_prompt(name: PromptName, services: ServicesDep, key: ReadKey) -> PromptSummary:
    return services.registry.get_prompt(name)


@router.get("/{name}/serving", summary="The variant serving most traffic now [read]", responses=_READ)
def serving(name: PromptName, services: ServicesDep, key: ReadKey) -> VariantInfo:
    return services.registry.get_variant(name)


@router.get("/{name}/history", summary="Audit log of state changes, newest first [read]", responses=_READ)
def history(name: PromptName, services: ServicesDep, key: ReadKey, page: PaginationDep) -> Page[AuditRecord]:
    end = page.offset + page.limit
    records = services.registry.history(name, limit=end + 1)
    return page.page(records[page.offset : end], more=len(records) > end)


@router.get(
    "/{name}/lineage",
    summary="Lineage tree: parents, children, strategy and held-out score [read]",
    responses=_READ,
)
def lineage(
    name: PromptName,
    services: ServicesDep,
    key: ReadKey,
    version: VersionQuery = None,
) -> LineagePublic:
    ancestors, roots = services.registry.lineage(name, version)
    return LineagePublic(prompt=name, version=version, ancestors=ancestors, roots=roots)


@router.get("/{name}/diff", summary="What changed between two versions [read]", responses=_READ)
def diff(
    name: PromptName,
    services: ServicesDep,
    key: ReadKey,
    from_version: Annotated[str, Query(alias="from", pattern=VERSION_PATTERN)],
    to_version: Annotated[str, Query(alias="to", pattern=VERSION_PATTERN)],
) -> VariantDiff:
    return services.registry.diff(name, from_version, to_version)


@router.put(
    "/{name}/shares",
    summary="Set several traffic shares in one audited change (0 deactivates) [admin]",
    responses=_WRITE,
)
def set_shares(
    name: PromptName, body: SharesCreate, services: ServicesDep, key: AdminKey
) -> list[VariantInfo]:
    return services.registry.set_shares(name, body.shares, actor=actor(key), reason=body.reason)


@router.get("/{name}/labels/{label}", summary="The variant a label points at [read]", responses=_READ)
def get_label(name: PromptName, label: Label, services: ServicesDep, key: ReadKey) -> VariantInfo:
    return services.registry.get_variant(name, label=label)


@router.put("/{name}/labels/{label}", summary="Point a label at a version [admin]", responses=_WRITE)
def set_label(
    name: PromptName, label: Label, body: LabelCreate, services: ServicesDep, key: AdminKey
) -> VariantInfo:
    return services.registry.set_label(name, label, body.version, actor=actor(key))


@router.delete("/{name}/labels/{label}", status_code=204, summary="Remove a label [admin]", responses=_WRITE)
def remove_label(name: PromptName, label: Label, services: ServicesDep, key: AdminKey) -> Response:
    services.registry.remove_label(name, label, actor=actor(key))
    return Response(status_code=204)


@router.post(
    "/{name}/rollback",
    summary="Serve a version alone again and point production at it [admin]",
    responses=_WRITE,
)
def rollback(name: PromptName, body: RollbackCreate, services: ServicesDep, key: AdminKey) -> VariantInfo:
    return services.registry.rollback(name, body.version, actor=actor(key), reason=body.reason)
