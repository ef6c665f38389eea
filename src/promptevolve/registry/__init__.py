"""The prompt registry: immutable, semantically versioned variants with audited state."""

from promptevolve.registry.models import (
    AuditRecord,
    LineageNode,
    PromptSummary,
    RegisterResult,
    VariantCreate,
    VariantDiff,
    VariantInfo,
)
from promptevolve.registry.scoring import PromptScoring, scoring_of, update_scoring
from promptevolve.registry.seed import install_prompts, load_prompt_files
from promptevolve.registry.service import Registry

__all__ = [
    "AuditRecord",
    "LineageNode",
    "PromptScoring",
    "PromptSummary",
    "RegisterResult",
    "Registry",
    "VariantCreate",
    "VariantDiff",
    "VariantInfo",
    "install_prompts",
    "load_prompt_files",
    "scoring_of",
    "update_scoring",
]
