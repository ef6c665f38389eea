"""`promptevolve demo`: the README's main job on the embedded defaults.

It grows with the project: today it creates the database, registers the baselines, and shows how the
registry serves a bundled example lead (which variant, which version, the rendered messages).
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table

from promptevolve.cli.common import console, state_of
from promptevolve.registry import Registry, install_baselines
from promptevolve.store.engine import Store
from promptevolve.store.migrate import schema_status, upgrade
from promptevolve.templates import parse_template, render

__all__ = ["bundled_leads", "demo"]


def bundled_leads(locale: str | None = None) -> list[dict[str, Any]]:
    """The bundled example leads (English and French, with gold labels)."""
    path = files("promptevolve.examples.lead_enrichment") / "leads.jsonl"
    leads = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [lead for lead in leads if locale is None or lead["locale"] == locale]


def demo(
    ctx: typer.Context,
    leads: Annotated[int, typer.Option(min=1, max=50, help="How many example leads per language.")] = 1,
) -> None:
    """Set up the embedded store and walk through the registry with the bundled example leads."""
    settings = state_of(ctx).settings()
    store = Store.from_url(settings.database_url)
    try:
        current, head = schema_status(store)
        if current != head:
            upgrade(store)
        registry = Registry(store, actor=settings.actor or "promptevolve demo")
        installed = install_baselines(registry)
        table = Table(title=f"Prompts in {settings.database_url}")
        for col in ("prompt", "serving", "kind", "labels", "variables"):
            table.add_column(col)
        for variant, _ in installed:
            table.add_row(
                variant.prompt,
                f"{variant.version} ({variant.share:g} %)",
                variant.kind.value,
                ", ".join(variant.labels),
                ", ".join(variant.variables),
            )
        console.print(table)
        for variant, _ in installed:
            parsed = parse_template(variant.template)
            for lead in bundled_leads(variant.prompt.rsplit("_", 1)[-1])[:leads]:
                rendered = render(parsed, lead["inputs"]).prompt
                user = rendered.as_messages()[-1]["content"]
                console.print(
                    Panel(
                        user,
                        title=f"{variant.ref} renders lead {lead['id']}",
                        subtitle=f"gold: {json.dumps(lead['expected'], ensure_ascii=False)}",
                    )
                )
    finally:
        store.dispose()
