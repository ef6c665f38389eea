"""Sandboxed Jinja2 templates: parsing with variable discovery, rendering, demos picked per call (pure)."""

from promptevolve.templates.demos import MARKER, DemoRetriever, RetrievalSpec
from promptevolve.templates.rendering import (
    CHAT_ROLES,
    ParsedTemplate,
    RenderResult,
    parse_template,
    render,
    template_to_json,
)

__all__ = [
    "CHAT_ROLES",
    "MARKER",
    "DemoRetriever",
    "ParsedTemplate",
    "RenderResult",
    "RetrievalSpec",
    "parse_template",
    "render",
    "template_to_json",
]
