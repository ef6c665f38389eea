"""Installing a set of starting prompts (an application's baselines) from JSON documents.

Each document is a prompt's name, locale and description, and its first variant (template, settings,
version 1.0.0, kind baseline): ``load_prompt_files`` reads them, ``install_prompts`` registers them.
Installing is idempotent: a prompt already registered is left as it is, and it is activated only if the
prompt has no active variant, so re-running ``init`` never undoes a team's later activations. The lead
task's baselines are the example's (``examples/lead_enrichment/baselines.py``, its documents in
``prompts/``); the library ships none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from importlib.resources.abc import Traversable

from promptevolve.registry.models import VariantCreate, VariantInfo
from promptevolve.registry.service import Registry

__all__ = ["install_prompts", "load_prompt_files"]


def load_prompt_files(folder: Traversable, names: Iterable[str]) -> list[VariantCreate]:
    """``folder/<name>.json`` for each name, as registration requests."""
    requests = []
    for name in names:
        doc = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        doc["prompt"] = doc.pop("name")
        requests.append(VariantCreate(**doc))
    return requests


def install_prompts(
    registry: Registry, requests: Sequence[VariantCreate], *, actor: str = "promptevolve init"
) -> list[tuple[VariantInfo, bool]]:
    """Register and activate each prompt; returns each variant and whether it was new."""
    results = []
    for request in requests:
        result = registry.register(request, actor=actor)
        summary = registry.get_prompt(request.prompt)
        variant = result.variant
        if not summary.active:
            variant = registry.activate(
                request.prompt, variant.version, actor=actor, reason="baseline installed by init"
            )
            registry.set_label(request.prompt, "production", variant.version, actor=actor)
        results.append((registry.get_variant(request.prompt, variant.version), result.created))
    return results
