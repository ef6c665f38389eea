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
from promptevolve.registry.seed import BASELINE_NAMES, install_baselines, load_baselines
from promptevolve.registry.service import Registry

__all__ = [
    "BASELINE_NAMES",
    "AuditRecord",
    "LineageNode",
    "PromptSummary",
    "RegisterResult",
    "Registry",
    "VariantCreate",
    "VariantDiff",
    "VariantInfo",
    "install_baselines",
    "load_baselines",
]
