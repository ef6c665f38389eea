"""`promptevolve dataset …`: import JSONL datasets with a seeded split, list them, show one."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from promptevolve.cli.common import JsonOpt, console, context_store, print_json, state_of
from promptevolve.compose import compose
from promptevolve.core.errors import ValidationError
from promptevolve.core.types import ModelSettings
from promptevolve.evolution.datasets import (
    DatasetInfo,
    build_from_production,
    get_dataset,
    import_jsonl,
    list_datasets,
    load_examples,
)
from promptevolve.examples.public_sets import PublicSet, public_set
from promptevolve.registry import VariantCreate

__all__ = ["app", "bundled_dataset_path"]

app = typer.Typer(help="Datasets for evaluation and evolution: import, list, show.", no_args_is_help=True)


def bundled_dataset_path() -> Path:
    """The bundled lead-enrichment dataset (500 English and 500 French leads with gold labels)."""
    return Path(str(files("promptevolve.examples.lead_enrichment") / "leads.jsonl"))


def _fractions(raw: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(x) for x in raw.split(","))
    except ValueError:
        raise ValidationError(f"bad --split {raw!r}: expected three numbers like 0.5,0.2,0.3") from None
    if len(parts) != 3:
        raise ValidationError(f"bad --split {raw!r}: expected three numbers (train,validation,test)")
    return parts


def _as_json(info: DatasetInfo) -> dict[str, object]:
    return {
        "name": info.name,
        "description": info.description,
        "source": info.source,
        "seed": info.seed,
        "fractions": list(info.fractions),
        "predefined_splits": info.predefined,
        "evaluator": info.evaluator,
        "counts": dict(info.counts),
        "locales": dict(info.locales),
        "created_at": info.created_at.isoformat(),
    }


@app.command("import")
def import_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    file: Annotated[
        Path | None, typer.Argument(help="JSONL file: inputs, expected or rubric, optional id and locale.")
    ] = None,
    bundled: Annotated[
        bool, typer.Option("--bundled", help="Import the bundled lead-enrichment dataset instead of a file.")
    ] = False,
    from_feedback: Annotated[
        str | None, typer.Option("--from-feedback", help="Build it from production feedback on this prompt.")
    ] = None,
    builtin: Annotated[
        str | None,
        typer.Option("--builtin", help="Import a bundled public set: sms_spam or tweet_sentiment."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the train/validation/test split.")] = 0,
    split: Annotated[str, typer.Option("--split", help="Fractions train,validation,test.")] = "0.5,0.2,0.3",
    evaluator: Annotated[
        str | None, typer.Option(help="Default evaluator for this dataset (exact, json, lead_enrichment, …).")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What the dataset holds.")] = None,
    replace: Annotated[bool, typer.Option(help="Replace a dataset of the same name.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import a dataset (file, bundled example, or production feedback) with a seeded split."""
    sources = sum([file is not None, bundled, from_feedback is not None, builtin is not None])
    if sources != 1:
        raise ValidationError(
            "give exactly one source: a FILE, --bundled, --builtin NAME, or --from-feedback PROMPT"
        )
    public = public_set(builtin) if builtin is not None else None
    fractions = _fractions(split)
    with context_store(ctx) as (store, _):
        if from_feedback is not None:
            report = build_from_production(
                store,
                name,
                prompt=from_feedback,
                seed=seed,
                fractions=fractions,
                evaluator=evaluator,
                replace=replace,
            )
            info = report.dataset
            note = (
                f"{report.corrections} corrections, {report.approved} approved outputs; skipped "
                f"{report.skipped_negative} negative without correction, {report.skipped_no_variables} "
                "without stored variables"
            )
        elif public is not None:
            info = import_jsonl(
                store,
                name,
                public.path,
                seed=seed,
                fractions=fractions,
                evaluator=evaluator or public.evaluator,
                description=description or public.description,
                replace=replace,
            )
            note = (
                f"labels {', '.join(public.labels)}; baseline template: "
                f"python -m promptevolve.examples.public_sets template {public.name}"
            )
            registered = _register_public_baseline(store, ctx, public)
            if registered is not None:
                note += f"; registered its baseline prompt {registered} (active)"
        else:
            path = bundled_dataset_path() if bundled else file
            assert path is not None
            info = import_jsonl(
                store,
                name,
                path,
                seed=seed,
                fractions=fractions,
                evaluator=evaluator or ("lead_enrichment" if bundled else None),
                description=description or ("bundled lead-enrichment leads" if bundled else None),
                replace=replace,
            )
            note = None
    if as_json:
        print_json(_as_json(info))
        return
    counts = ", ".join(f"{k} {v}" for k, v in info.counts.items())
    console.print(f"dataset [bold]{info.name}[/]: {info.size} items ({counts}), seed {info.seed}")
    if info.predefined:
        console.print(f"{info.predefined} items kept the split given by their own `split` field")
    if note:
        console.print(note)


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the datasets with their split sizes."""
    with context_store(ctx) as (store, _):
        infos = list_datasets(store)
    if as_json:
        print_json([_as_json(i) for i in infos])
        return
    table = Table(title="Datasets")
    for col in ("name", "source", "items", "train", "validation", "test", "locales", "evaluator", "seed"):
        table.add_column(col)
    for i in infos:
        table.add_row(
            i.name,
            i.source,
            str(i.size),
            *(str(i.counts[s]) for s in ("train", "validation", "test")),
            ", ".join(f"{k} {v}" for k, v in i.locales.items()) or "—",
            i.evaluator or "—",
            str(i.seed),
        )
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    split: Annotated[str | None, typer.Option(help="Only this split.")] = None,
    limit: Annotated[int, typer.Option(help="How many items to show.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Show a dataset: its split and the first items."""
    with context_store(ctx) as (store, _):
        info = get_dataset(store, name)
        items = load_examples(store, name, split=split)[:limit]
    if as_json:
        print_json(
            {
                **_as_json(info),
                "items": [
                    {
                        "key": e.key,
                        "split": e.split,
                        "inputs": dict(e.inputs),
                        "expected": e.expected,
                        "rubric": e.rubric,
                    }
                    for e in items
                ],
            }
        )
        return
    counts = ", ".join(f"{k} {v}" for k, v in info.counts.items())
    console.print(
        f"[bold]{info.name}[/] ({info.source}): {counts}; fractions {list(info.fractions)}, "
        f"seed {info.seed}, "
        f"evaluator {info.evaluator or '—'}; locales {dict(info.locales) or '—'}"
    )
    table = Table()
    for col in ("key", "split", "inputs", "expected"):
        table.add_column(col, overflow="fold")
    for e in items:
        inputs = json.dumps(dict(e.inputs), ensure_ascii=False)
        expected = (
            json.dumps(e.expected, ensure_ascii=False) if e.expected is not None else f"rubric: {e.rubric}"
        )
        table.add_row(e.key, e.split, inputs[:160], expected[:160])
    console.print(table)


def _register_public_baseline(store: Any, ctx: typer.Context, public: PublicSet) -> str | None:
    """Register and activate the set's baseline prompt (its own instruction, free text) unless a prompt
    of that name exists; the ref registered, else None. The prompt is named after the set, so that
    `eval NAME -d DATASET` and `evolve NAME -d DATASET` work right after the import."""
    registry = compose(store, actor=state_of(ctx).actor).registry
    if public.name in {p.name for p in registry.list_prompts()}:
        return None
    variant = registry.register(
        VariantCreate(
            prompt=public.name,
            template=public.template,
            settings=ModelSettings(max_tokens=4, temperature=0.0, stop=("\n",)),
            description=public.description,
            locale="en",
            rationale=f"the dataset's own instruction ({public.source})",
        )
    ).variant
    registry.activate(public.name, variant.version)
    return variant.ref
