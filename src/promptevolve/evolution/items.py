"""Per-item results as JSON rows: what ``eval`` and ``evolve`` write with ``--items-out FILE.jsonl``.

One row per (prompt, item): the item's key and split, which prompt answered (``variant`` for ``eval``;
``parent``, ``candidate`` or a baseline's name for ``evolve``), the item's inputs and gold answer, the
output, its score, whether it could be read (``parsed``), the evaluator's explanation and the call's
error if it failed. The rows let a user check any figure of a report item by item (a constant
classifier shows at once as one output repeated). Pure: building the rows does no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from promptevolve.evolution.candidates import ItemResult
from promptevolve.evolution.datasets import Example

__all__ = ["item_rows"]


def item_rows(
    prompt: str, examples: Sequence[Example], results: Iterable[ItemResult]
) -> list[dict[str, Any]]:
    """Rows for ``results`` of ``prompt``, joined with their items by key (unknown keys skipped)."""
    by_key = {e.key: e for e in examples}
    rows = []
    for result in results:
        example = by_key.get(result.key)
        if example is None:
            continue
        rows.append(
            {
                "item": example.key,
                "split": example.split,
                "prompt": prompt,
                "input": dict(example.inputs),
                "expected": example.expected,
                "output": result.output,
                "score": result.score,
                "parsed": result.parsed,
                "explanation": result.explanation,
                "error": result.error,
            }
        )
    return rows
