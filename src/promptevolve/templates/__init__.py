"""Sandboxed Jinja2 templates: parsing with variable discovery, rendering, demos picked per call (pure)."""

from promptevolve.templates.demos import MARKER, DemoRetriever, RetrievalSpec
from promptevolve.templates.rendering import (
    CHAT_ROLES,
    ParsedTemplate,
    RenderResult,
    is_plain,
    parse_template,
    render,
    render_messages,
    template_to_json,
    vet_template,
)
from promptevolve.templates.sandbox import DEFAULT_LIMITS, RenderLimits

__all__ = [
    "CHAT_ROLES",
    "DEFAULT_LIMITS",
    "MARKER",
    "DemoRetriever",
    "ParsedTemplate",
    "RenderLimits",
    "RenderResult",
    "RetrievalSpec",
    "is_plain",
    "parse_template",
    "render",
    "render_messages",
    "template_to_json",
    "vet_template",
]
