"""Prompts shared by the provider tests."""

from __future__ import annotations

from promptevolve.core.types import ChatMessage, RenderedPrompt, TemplateKind


def chat(*turns: tuple[str, str]) -> RenderedPrompt:
    return RenderedPrompt(TemplateKind.CHAT, messages=tuple(ChatMessage(role, text) for role, text in turns))


def text(prompt: str) -> RenderedPrompt:
    return RenderedPrompt(TemplateKind.TEXT, text=prompt)


CAPITAL_QUESTION = chat(("user", "What is the capital of France?"))

SENTIMENT_FEW_SHOT = (
    "Review: The food was delicious and the staff were lovely.\nSentiment: positive\n\n"
    "Review: Cold soup, rude waiter, never again.\nSentiment: negative\n\n"
    "Review: Best concert I have been to in years!\nSentiment: positive\n\n"
    "Review: The battery died after two days.\nSentiment: negative\n\n"
    "Review: {review}\nSentiment:"
)
