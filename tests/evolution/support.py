"""Shared pieces of the evolution tests: a small task with a scripted model that follows demonstrations."""

from __future__ import annotations

from promptevolve.core.types import ModelSettings, RenderedPrompt
from promptevolve.evolution.datasets import Example

LABELS = {
    "red": "warm",
    "orange": "warm",
    "yellow": "warm",
    "blue": "cold",
    "green": "cold",
    "purple": "cold",
}


def examples(n: int, split: str, start: int = 0) -> tuple[Example, ...]:
    colours = list(LABELS)
    out = []
    for i in range(start, start + n):
        colour = colours[i % len(colours)]
        out.append(Example(f"{split}-{i:03d}", split, {"colour": f"{colour} #{i}"}, LABELS[colour]))
    return tuple(out)


def smart_reply(prompt: RenderedPrompt, settings: ModelSettings) -> str:
    """A fake model: right only when the prompt shows worked examples ("Answer:"), and a proposer that
    answers in the requested formats."""
    text = prompt.as_text()
    if "<INS>" in text:
        return "<INS>Classify the colour as warm or cold. Reply with one word.</INS>"
    if "rules" in text and "- " in text:
        return "- Reply warm for red, orange and yellow.\n- Reply cold otherwise."
    if "persona" in text.lower():
        return "You are a colour scientist who labels colours precisely."
    if "Why did the instruction fail" in text:
        return "The instruction never lists which colours are warm."
    if "Answer:" in text:
        colour = text.rsplit("Colour:", 1)[-1].split()[0]
        return LABELS.get(colour, "cold")
    return "unsure"


TEMPLATE = [
    {"role": "system", "content": "Say if the colour is warm or cold."},
    {"role": "user", "content": "Colour: {{ colour }}"},
]


def copycat_reply(prompt: RenderedPrompt, settings: ModelSettings) -> str:
    """A fake model that copies the answer of the last worked example shown (a nearest-neighbour copier):
    right when the demo next to the query is of the same class, whatever the instruction says."""
    text = prompt.as_text()
    answers = [line.split("Answer:", 1)[1].strip() for line in text.splitlines() if "Answer:" in line]
    answers = [a for a in answers if a]
    return answers[-1] if answers else "unsure"
