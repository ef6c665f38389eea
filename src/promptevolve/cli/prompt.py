"""`promptevolve prompt …`: register, inspect and change the state of prompt variants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.syntax import Syntax
from rich.table import Table
from rich.tree import Tree

from promptevolve.cli.common import JsonOpt, console, context_store, print_json, state_of
from promptevolve.compose import compose
from promptevolve.core.errors import ValidationError
from promptevolve.core.inputs import parse_json, read_text_file
from promptevolve.core.types import ModelSettings, VariantKind
from promptevolve.registry import LineageNode, Registry, VariantCreate, VariantInfo

app = typer.Typer(
    help="Register prompt variants, inspect them, and change what serves.", no_args_is_help=True
)

ReasonOpt = Annotated[str | None, typer.Option(help="Why: recorded in the audit log.")]


def _registry(store: Any, ctx: typer.Context) -> Registry:
    return compose(store, actor=state_of(ctx).actor).registry


def _parse_setting(raw: str) -> tuple[str, Any]:
    key, sep, value = raw.partition("=")
    if not sep or not key:
        raise ValidationError(f"bad --setting {raw!r}: expected KEY=VALUE")
    try:
        return key, parse_json(value, f"--setting {key}")
    except ValidationError:
        return key, value  # not JSON: the text itself


def _read_template(template: str | None, template_file: Path | None) -> str | list[dict[str, Any]]:
    if (template is None) == (template_file is None):
        raise ValidationError("give the template either with --template TEXT or with --template-file FILE")
    if template is not None:
        return template
    assert template_file is not None
    text = read_text_file(template_file, "template file")
    if template_file.suffix.lower() == ".json":
        data = parse_json(text, f"template file {template_file}")
        if not isinstance(data, list):
            raise ValidationError(
                f"template file {template_file} must hold a list of chat messages "
                '([{"role": "system", "content": "…"}, …])'
            )
        return data
    return text


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Prompt name, e.g. ai_enrichment_en.")],
    template: Annotated[str | None, typer.Option(help="Template text (Jinja2).")] = None,
    template_file: Annotated[
        Path | None, typer.Option(help="Template file: text, or .json with chat messages.")
    ] = None,
    version: Annotated[str | None, typer.Option(help="Explicit semantic version; default: bumped.")] = None,
    parent: Annotated[str | None, typer.Option(help="Parent version; default: the serving variant.")] = None,
    kind: Annotated[VariantKind | None, typer.Option(help="baseline, optimized, evolved or ab_test.")] = None,
    model: Annotated[str | None, typer.Option(help="Model name.")] = None,
    provider: Annotated[str | None, typer.Option(help="Provider: local, openai, litellm…")] = None,
    temperature: Annotated[float | None, typer.Option()] = None,
    max_tokens: Annotated[int | None, typer.Option()] = None,
    stop: Annotated[list[str] | None, typer.Option(help="Stop sequence (repeatable).")] = None,
    json_output: Annotated[
        bool, typer.Option("--json-output", help="The variant answers in JSON (parsed by the SDK).")
    ] = False,
    setting: Annotated[
        list[str] | None, typer.Option(help="Other model setting KEY=VALUE (repeatable).")
    ] = None,
    strategy: Annotated[str | None, typer.Option(help="How the variant was made.")] = None,
    rationale: Annotated[str | None, typer.Option(help="Why this variant exists.")] = None,
    author: Annotated[str | None, typer.Option(help="Who wrote it.")] = None,
    description: Annotated[str | None, typer.Option(help="Description of a new prompt.")] = None,
    locale: Annotated[str | None, typer.Option(help="Locale of a new prompt, e.g. en, fr.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a new variant (content never changes once registered)."""
    body = _read_template(template, template_file)
    given: dict[str, Any] = dict(_parse_setting(s) for s in setting or [])
    for key, value in {
        "model": model,
        "provider": provider,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "stop": tuple(stop) if stop else None,
    }.items():
        if value is not None:
            given[key] = value
    if json_output:
        given["response_format"] = "json"
    with context_store(ctx) as (store, _):
        registry = _registry(store, ctx)
        if not given and parent is None:
            settings = _inherited_settings(registry, name)
        elif not given:
            settings = registry.get_variant(name, parent).settings
        else:
            settings = ModelSettings(**given)
        request = VariantCreate(
            prompt=name,
            template=body,
            settings=settings,
            kind=kind,
            version=version,
            parent=parent,
            strategy=strategy,
            rationale=rationale,
            author=author,
            description=description,
            locale=locale,
        )
        result = registry.register(request)
    if as_json:
        print_json(result)
        return
    v = result.variant
    if result.created:
        console.print(
            f"registered [bold]{v.ref}[/] ({v.kind.value}, parent {v.parent_version or '—'}, "
            f"variables: {', '.join(v.variables) or 'none'}); inactive until activated"
        )
    else:
        console.print(f"identical content is already registered as [bold]{v.ref}[/]: nothing new written")


def _inherited_settings(registry: Registry, name: str) -> ModelSettings:
    """A new variant of an existing prompt keeps the serving variant's settings unless told otherwise."""
    from promptevolve.core.errors import NotFoundError

    try:
        return registry.get_variant(name).settings
    except NotFoundError:
        return ModelSettings()


@app.command("list")
def list_prompts(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List prompts with their active versions and labels."""
    with context_store(ctx) as (store, _):
        prompts = _registry(store, ctx).list_prompts()
    if as_json:
        print_json(prompts)
        return
    table = Table(title="Prompts")
    for col in ("name", "locale", "variants", "latest", "active (share)", "labels"):
        table.add_column(col)
    for p in prompts:
        active = ", ".join(f"{v} ({s:g} %)" for v, s in p.active.items()) or "none"
        labels = ", ".join(f"{k}→{v}" for k, v in sorted(p.labels.items())) or ""
        table.add_row(p.name, p.locale or "", str(p.variants), p.latest_version or "", active, labels)
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    name: str,
    version: Annotated[str | None, typer.Option(help="Version; default: the serving variant.")] = None,
    label: Annotated[str | None, typer.Option(help="Show the variant a label points at.")] = None,
    all_versions: Annotated[bool, typer.Option("--all", help="List every version instead.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show a variant (template, settings, state), or every version with --all."""
    with context_store(ctx) as (store, _):
        registry = _registry(store, ctx)
        if all_versions:
            variants = registry.list_variants(name)
            if as_json:
                print_json(variants)
                return
            _print_versions(name, variants)
            return
        variant = registry.get_variant(name, version, label=label)
    if as_json:
        print_json(variant)
        return
    _print_variant(variant)


def _print_versions(name: str, variants: list[VariantInfo]) -> None:
    table = Table(title=f"Versions of {name}")
    for col in ("version", "kind", "parent", "strategy", "active", "share", "labels", "created"):
        table.add_column(col)
    for v in variants:
        table.add_row(
            v.version,
            v.kind.value,
            v.parent_version or "",
            v.strategy or "",
            "yes" if v.active else "",
            f"{v.share:g} %",
            ", ".join(v.labels),
            v.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


def _print_variant(v: VariantInfo) -> None:
    state = f"active at {v.share:g} %" if v.active else "inactive"
    console.print(f"[bold]{v.ref}[/] · {v.kind.value} · {state} · labels: {', '.join(v.labels) or 'none'}")
    console.print(
        f"parent: {v.parent_version or '—'} · strategy: {v.strategy or '—'} · "
        f"by {v.created_by or '?'} at {v.created_at:%Y-%m-%d %H:%M} UTC"
    )
    if v.rationale:
        console.print(f"rationale: {v.rationale}")
    console.print(f"variables: {', '.join(v.variables) or 'none'}")
    console.print("settings: " + json.dumps(v.settings.model_dump(mode="json", exclude_none=True)))
    if isinstance(v.template, str):
        console.print(Syntax(v.template, "jinja", word_wrap=True))
    else:
        for m in v.template:
            console.print(f"[bold cyan]── {m['role']} ──[/]")
            console.print(Syntax(m["content"], "jinja", word_wrap=True))


@app.command("diff")
def diff(ctx: typer.Context, name: str, from_version: str, to_version: str, as_json: JsonOpt = False) -> None:
    """Show what changed between two versions: template, variables, settings."""
    with context_store(ctx) as (store, _):
        d = _registry(store, ctx).diff(name, from_version, to_version)
    if as_json:
        print_json(d)
        return
    if d.kind[0] != d.kind[1]:
        console.print(f"kind: {d.kind[0]} → {d.kind[1]}")
    if d.variables_added or d.variables_removed:
        console.print(f"variables: +{d.variables_added} -{d.variables_removed}")
    for key, (a, b) in d.settings_changed.items():
        console.print(f"setting {key}: {a!r} → {b!r}")
    console.print(Syntax(d.template_diff or "(template unchanged)\n", "diff", word_wrap=True))


@app.command("activate")
def activate(
    ctx: typer.Context,
    name: str,
    version: str,
    share: Annotated[float | None, typer.Option(help="Traffic share in percent (0–100].")] = None,
    exclusive: Annotated[
        bool, typer.Option(help="Deactivate every other variant in the same change.")
    ] = False,
    reason: ReasonOpt = None,
) -> None:
    """Make a variant serve (alone, or at a traffic share beside others)."""
    with context_store(ctx) as (store, _):
        v = _registry(store, ctx).activate(name, version, share=share, exclusive=exclusive, reason=reason)
    console.print(f"{v.ref} is active at {v.share:g} %")


@app.command("deactivate")
def deactivate(ctx: typer.Context, name: str, version: str, reason: ReasonOpt = None) -> None:
    """Stop a variant serving."""
    with context_store(ctx) as (store, _):
        registry = _registry(store, ctx)
        v = registry.deactivate(name, version, reason=reason)
        left = registry.get_prompt(name).active
    console.print(f"{v.ref} is inactive")
    if not left:
        console.print("[yellow]warning:[/] no variant is active now: calls are served by the baseline")


@app.command("shares")
def shares(
    ctx: typer.Context,
    name: str,
    assignments: Annotated[list[str], typer.Argument(help="VERSION=PERCENT pairs, e.g. 1.0.0=80 1.1.0=20")],
    reason: ReasonOpt = None,
) -> None:
    """Set several traffic shares in one change (0 deactivates); the total may not pass 100 %."""
    parsed: dict[str, float] = {}
    for raw in assignments:
        version, sep, pct = raw.partition("=")
        try:
            parsed[version] = float(pct)
        except ValueError:
            raise ValidationError(f"bad share {raw!r}: expected VERSION=PERCENT") from None
        if not sep:
            raise ValidationError(f"bad share {raw!r}: expected VERSION=PERCENT")
    with context_store(ctx) as (store, _):
        infos = _registry(store, ctx).set_shares(name, parsed, reason=reason)
    for v in infos:
        console.print(f"{v.ref}: {'active' if v.active else 'inactive'} at {v.share:g} %")


@app.command("label")
def label(
    ctx: typer.Context,
    name: str,
    label_name: Annotated[str, typer.Argument(metavar="LABEL", help="e.g. production, staging")],
    version: Annotated[str | None, typer.Argument(help="Version to point at; omit with --remove.")] = None,
    remove: Annotated[bool, typer.Option(help="Remove the label.")] = False,
) -> None:
    """Point a label (production, staging, any) at a version, or remove it."""
    with context_store(ctx) as (store, _):
        registry = _registry(store, ctx)
        if remove:
            registry.remove_label(name, label_name)
            console.print(f"label {label_name} removed from {name}")
            return
        if version is None:
            raise ValidationError("give the VERSION the label should point at (or --remove)")
        v = registry.set_label(name, label_name, version)
    console.print(f"{name}: {label_name} → {v.version}")


@app.command("rollback")
def rollback(ctx: typer.Context, name: str, version: str, reason: ReasonOpt = None) -> None:
    """Serve an earlier version alone again, and point production at it."""
    with context_store(ctx) as (store, _):
        v = _registry(store, ctx).rollback(name, version, reason=reason)
    console.print(f"rolled back: {v.ref} serves 100 % and is labelled production")


@app.command("history")
def history(
    ctx: typer.Context,
    name: str,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The audit log of a prompt: every state change, who, when, before and after."""
    with context_store(ctx) as (store, _):
        records = _registry(store, ctx).history(name, limit=limit)
    if as_json:
        print_json(records)
        return
    table = Table(title=f"History of {name}")
    for col in ("when (UTC)", "action", "version", "who", "before", "after", "reason"):
        table.add_column(col)
    for r in records:
        table.add_row(
            f"{r.at:%Y-%m-%d %H:%M:%S}",
            r.action,
            r.version or "",
            r.actor or "",
            _compact(r.before),
            _compact(r.after),
            r.reason or "",
        )
    console.print(table)


def _compact(value: dict[str, Any] | None) -> str:
    if not value:
        return ""
    return ", ".join(f"{k}={v}" for k, v in value.items())


@app.command("lineage")
def lineage(
    ctx: typer.Context,
    name: str,
    version: Annotated[str | None, typer.Argument(help="Focus on one version.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Parents and children of the variants, as a tree."""
    with context_store(ctx) as (store, _):
        ancestors, roots = _registry(store, ctx).lineage(name, version)
    if as_json:
        print_json({"ancestors": ancestors, "tree": [r.model_dump(mode="json") for r in roots]})
        return
    title = name if not ancestors else f"{name}: {' → '.join(ancestors)} →"
    tree = Tree(f"[bold]{title}[/]")
    for root in roots:
        _grow(tree, root)
    console.print(tree)


def _grow(parent: Tree, node: LineageNode) -> None:
    bits = [f"[bold]{node.version}[/]", node.kind.value]
    if node.strategy:
        bits.append(f"via {node.strategy}")
    if node.score is not None:
        bits.append(f"score {node.score:.3f}")
    if node.active:
        bits.append("[green]active[/]")
    branch = parent.add(" · ".join(bits))
    for child in node.children:
        _grow(branch, child)
