"""The bundled public sets ship with fixed, balanced, leak-free splits, and their builder is deterministic.

The files are read the way the CLI reads them (from the installed package), and every rule that
``build.py`` promises is re-checked on the committed bytes, so a hand edit that breaks one fails here.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from promptevolve.core.errors import ValidationError
from promptevolve.evolution.datasets import read_jsonl
from promptevolve.examples.public_sets import PUBLIC_SETS, public_set
from promptevolve.examples.public_sets.build import MAX_CHARS, PER_CLASS, SourceRow, build_items, tweet_rows
from promptevolve.templates import parse_template, render


def _items(name: str) -> list[dict[str, Any]]:
    text = PUBLIC_SETS[name].path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("name", sorted(PUBLIC_SETS))
def test_every_split_is_class_balanced_with_a_test_split_of_600(name):
    labels = PUBLIC_SETS[name].labels
    counts = Counter((i["split"], i["expected"]) for i in _items(name))
    assert counts == {(split, label): size for split, size in PER_CLASS for label in labels}
    assert sum(n for (split, _), n in counts.items() if split == "test") == 600


@pytest.mark.parametrize("name", sorted(PUBLIC_SETS))
def test_no_text_sits_in_two_items_so_no_split_leaks(name):
    texts = Counter(i["inputs"]["text"].lower() for i in _items(name))
    assert texts.most_common(1)[0][1] == 1
    assert all(0 < len(t) <= MAX_CHARS for t in texts)


@pytest.mark.parametrize("name", sorted(PUBLIC_SETS))
def test_files_import_as_datasets_and_ids_name_the_source_row(name):
    s = PUBLIC_SETS[name]
    items = read_jsonl(s.path.read_text(encoding="utf-8").splitlines(), source=name)
    assert {i.expected for i in items} == set(s.labels)
    for item in items:
        meta = item.meta()
        assert item.id.endswith(f"-{meta['source_row']:05d}") and set(item.inputs) == {"text"}


@pytest.mark.parametrize("name", sorted(PUBLIC_SETS))
def test_baseline_template_renders_each_item_and_names_every_label(name):
    s = PUBLIC_SETS[name]
    template = parse_template(s.template)
    item = _items(name)[0]
    rendered = render(template, item["inputs"]).prompt.text or ""
    assert item["inputs"]["text"] in rendered and rendered.rstrip().endswith("Answer:")
    assert all(label in s.template for label in s.labels)


def test_tweet_labels_follow_the_sign_of_the_mean_rating_past_the_margin():
    for item in _items("tweet_sentiment"):
        rating = item["mean_rating"]
        assert abs(rating) >= 1.0 and item["expected"] == ("positive" if rating > 0 else "negative")


def test_unknown_public_set_names_the_known_ones():
    with pytest.raises(ValidationError, match="sms_spam, tweet_sentiment"):
        public_set("imdb")


def test_tweet_parser_drops_neutral_tweets_repeated_texts_and_conflicting_labels():
    lines = ["id\tsentiment\ttext", "1\t2.5\tGreat day!", "2\t0.4\tmeh", "3\t-1.5\tgreat  day!"]
    raw = "\n".join([*lines, "4\t-3\tawful", "5\t-2\tawful"])
    rows = tweet_rows(raw)
    assert [(r.row, r.label) for r in rows] == [(4, "negative")]  # 1 and 3 conflict, 5 repeats 4


def test_builder_is_deterministic_and_balanced_and_refuses_too_few_rows():
    rows = [SourceRow(n, f"text {n}", "a" if n % 3 else "b") for n in range(3000)]
    first = build_items("toy", "toy", rows, ("a", "b"))
    assert first == build_items("toy", "toy", list(reversed(rows)), ("a", "b"))
    assert Counter((i["split"], i["expected"]) for i in first)[("test", "b")] == 300
    assert first != build_items("other", "toy", rows, ("a", "b"))  # the order depends on the set's name
    with pytest.raises(ValueError, match="need 500"):
        build_items("toy", "toy", rows[:600], ("a", "b"))
