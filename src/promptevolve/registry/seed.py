"""The baseline prompts of our first user, shipped with the package and installed by ``init``.

Each baseline is a JSON file in ``baselines/``: the prompt's name, locale and description, and the
variant (template, settings, version 1.0.0, kind baseline). Installing is idempotent: a baseline
already registered is left as it is, and it is activated only if the prompt has no active variant,
so re-running ``init`` never undoes a team's later activations.
"""

from __future__ import annotations

import json
from importlib.resources import files

from promptevolve.registry.models import VariantCreate, VariantInfo
from promptevolve.registry.service import Registry

__all__ = ["BASELINE_NAMES", "install_baselines", "load_baselines"]

BASELINE_NAMES = ("ai_enrichment_en", "ai_enrichment_fr")


def load_baselines() -> list[VariantCreate]:
    folder = files("promptevolve.registry") / "baselines"
    requests = []
    for name in BASELINE_NAMES:
        doc = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        doc["prompt"] = doc.pop("name")
        requests.append(VariantCreate(**doc))
    return requests


def install_baselines(registry: Registry) -> list[tuple[VariantInfo, bool]]:
    """Register and activate the baselines; returns each variant and whether it was new."""
    results = []
    for request in load_baselines():
        result = registry.register(request, actor="promptevolve init")
        summary = registry.get_prompt(request.prompt)
        variant = result.variant
        if not summary.active:
            variant = registry.activate(
                request.prompt,
                variant.version,
                actor="promptevolve init",
                reason="baseline installed by init",
            )
            registry.set_label(request.prompt, "production", variant.version, actor="promptevolve init")
        results.append((registry.get_variant(request.prompt, variant.version), result.created))
    return results
