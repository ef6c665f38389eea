"""Sandboxed Jinja2 templates: parsing with variable discovery, and rendering (pure)."""

from promptevolve.templates.rendering import (
    CHAT_ROLES,
    ParsedTemplate,
    RenderResult,
    parse_template,
    render,
    template_to_json,
)

__all__ = ["CHAT_ROLES", "ParsedTemplate", "RenderResult", "parse_template", "render", "template_to_json"]
