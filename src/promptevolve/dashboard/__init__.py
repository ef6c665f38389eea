"""The web dashboard: prompts and lineage, variants with score trends, experiments with their lift over
time and decisions, evolution runs. Server-rendered (Jinja2 + SVG), read and acted on through the API.
See docs/dashboard.md."""

from promptevolve.dashboard.app import create_dashboard

__all__ = ["create_dashboard"]
