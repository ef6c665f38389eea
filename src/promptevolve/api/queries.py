"""The autopilot's status and a prompt's policy as the API answers them.

``autopilot_status`` / ``stored_policy``: a stored policy this version cannot read (written by another
version) is reported for that prompt instead of failing the whole answer (``autopilot.autopilot_status``
raises for it). No SQL here: the reads are the autopilot's and the registry's (the trend and the
recorded evolution runs, once read here, are ``experiments.trend`` and ``evolution.runs``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime

import pydantic

from promptevolve.api.schemas import AutopilotStatusPublic, PromptStatusPublic, UnreadablePolicyPublic
from promptevolve.autopilot import Policy, get_policy, prompt_status
from promptevolve.autopilot.policy import policy_names
from promptevolve.core.errors import ConflictError
from promptevolve.registry import Registry
from promptevolve.store.engine import Store

__all__ = ["autopilot_status", "has_policy", "stored_policy"]


def _unreadable(exc: pydantic.ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'policy'}: {e['msg']}" for e in exc.errors()[:5]]
    return "; ".join(parts)


def stored_policy(registry: Registry, prompt: str) -> Policy | None:
    """The prompt's policy or None; ``NotFoundError`` for an unknown prompt, ``ConflictError`` for a
    stored policy this version cannot read (it can be removed, then set again)."""
    try:
        return get_policy(registry, prompt)
    except pydantic.ValidationError as exc:
        raise ConflictError(
            f"the autopilot policy stored for {prompt!r} cannot be read by this version of promptevolve "
            f"({_unreadable(exc)}): DELETE /prompts/{prompt}/autopilot, then set it again"
        ) from None


def has_policy(registry: Registry, prompt: str) -> bool:
    """Whether the prompt has a policy, readable or not (``NotFoundError`` for an unknown prompt)."""
    try:
        return stored_policy(registry, prompt) is not None
    except ConflictError:
        return True


def autopilot_status(
    store: Store, registry: Registry, *, prompts: Iterable[str] | None, last: int
) -> AutopilotStatusPublic:
    """Every prompt with a policy (or those named, with or without one; an unknown one is a
    ``NotFoundError``), one at a time, so that an unreadable policy is listed in ``unreadable``."""
    names = list(dict.fromkeys(prompts)) if prompts is not None else policy_names(registry)
    now = time.time()
    found: list[PromptStatusPublic] = []
    unreadable: list[UnreadablePolicyPublic] = []
    for name in names:
        try:
            status = prompt_status(store, name, now=now, last=last, registry=registry)
        except pydantic.ValidationError as exc:
            unreadable.append(UnreadablePolicyPublic(prompt=name, error=_unreadable(exc)))
            continue
        found.append(PromptStatusPublic.model_validate(status, from_attributes=True))
    return AutopilotStatusPublic(at=datetime.fromtimestamp(now, UTC), prompts=found, unreadable=unreadable)
