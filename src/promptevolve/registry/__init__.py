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
from promptevolve.registry.seed import install_prompts, load_prompt_files
from promptevolve.registry.service import Registry

__all__ = [
    "AuditRecord",
    "LineageNode",
    "PromptSummary",
    "RegisterResult",
    "Registry",
    "VariantCreate",
    "VariantDiff",
    "VariantInfo",
    "install_prompts",
    "load_prompt_files",
]
