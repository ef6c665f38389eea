"""The lead task's baseline prompts (English and French), installed by ``promptevolve init`` and the demo.

The documents sit beside this module (``prompts/*.json``): they quote the task's vocabulary
(``taxonomy``) verbatim and constrain the answer with its JSON schema, so they belong to the example,
not to the registry, which only knows how to install a set of prompts (``registry.seed``).
"""

from __future__ import annotations

from importlib.resources import files

from promptevolve.registry import Registry, VariantCreate, VariantInfo
from promptevolve.registry.seed import install_prompts, load_prompt_files

__all__ = ["BASELINE_NAMES", "install_baselines", "load_baselines"]

BASELINE_NAMES = ("ai_enrichment_en", "ai_enrichment_fr")


def load_baselines() -> list[VariantCreate]:
    return load_prompt_files(files("promptevolve.examples.lead_enrichment") / "prompts", BASELINE_NAMES)


def install_baselines(registry: Registry) -> list[tuple[VariantInfo, bool]]:
    """Register and activate the baselines; returns each variant and whether it was new."""
    return install_prompts(registry, load_baselines())
