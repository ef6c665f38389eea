"""A prompt seen as parts that strategies can edit: instruction, demonstrations, query, answer cue.

Strategies do not edit template text blindly; they edit ``PromptParts`` and the parts render back to a
registry template (``to_template``):

* **chat form**: ``[system: instruction]`` + fixed messages of the parent + one user/assistant pair per
  demonstration + ``[user: query]``;
* **completion form** (a plain-text template, which a small model follows far better): the instruction,
  then each demonstration as ``<query filled with its inputs>\\n<cue> <output>``, then the query and the
  cue, with a stop sequence so the model answers one demonstration's worth and stops.

The query is the parent's template text that holds the variables (the last user message of a chat
template), so every candidate keeps the variables of its parent; ``check_candidate`` proves it by parsing
and rendering the template with the parent's variables. Demonstrations are literal text: if one contains
Jinja markers it is wrapped in ``{% raw %}`` so a lead whose description says ``{{`` cannot inject a
template expression.

A candidate whose demonstrations are picked per call (``retrieve``) renders the marker ``{# demos #}``
(``templates.demos``) where the demos would go, and carries its pool in its settings; rendered without
the retriever it is the zero-shot prompt.

A parent that evolution made carries its parts in ``meta["parts"]`` (``parts_from_meta``), so later
runs edit the same structure; any other template is read by ``parts_from_template``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from promptevolve.core.errors import TemplateError
from promptevolve.core.types import ModelSettings, TemplateKind
from promptevolve.templates import MARKER, ParsedTemplate, parse_template, render

__all__ = [
    "Demo",
    "PromptParts",
    "check_candidate",
    "literal",
    "parts_from_meta",
    "parts_from_template",
    "parts_to_meta",
]

Form = Literal["chat", "completion"]
_JINJA_MARKERS = ("{{", "{%", "{#", "}}", "%}", "#}")


def literal(text: str) -> str:
    """``text`` made safe to embed in a Jinja template (wrapped in a raw block only when needed)."""
    if not any(marker in text for marker in _JINJA_MARKERS):
        return text
    return "{% raw %}" + text.replace("{% endraw %}", "{ % endraw % }") + "{% endraw %}"


@dataclass(frozen=True, slots=True)
class Demo:
    """A worked example: the variables of an item and the answer shown for it."""

    key: str
    inputs: Mapping[str, Any]
    output: str
    source: str = "labelled"  # labelled | bootstrapped | production
    score: float = 1.0


@dataclass(frozen=True, slots=True)
class PromptParts:
    form: Form
    instruction: str
    query: str
    demos: tuple[Demo, ...] = ()
    cue: str = ""
    fixed: tuple[tuple[str, str], ...] = field(default=())
    retrieve: bool = False  # demos picked per call from the settings' pool, at the marker

    def with_instruction(self, instruction: str) -> PromptParts:
        return replace(self, instruction=instruction)

    def with_demos(self, demos: Sequence[Demo]) -> PromptParts:
        return replace(self, demos=tuple(demos))

    def demo_text(self, demo: Demo) -> str:
        """The query filled with the demo's variables (what the model sees as the example's input)."""
        parsed = parse_template(self.query)
        return render(parsed, {**{v: "" for v in parsed.variables}, **demo.inputs}).prompt.text or ""

    def to_template(self) -> str | list[dict[str, str]]:
        if self.form == "chat":
            messages: list[dict[str, str]] = []
            if self.instruction.strip():
                messages.append({"role": "system", "content": self.instruction})
            messages += [{"role": role, "content": content} for role, content in self.fixed]
            for demo in self.demos:
                messages.append({"role": "user", "content": literal(self.demo_text(demo))})
                messages.append({"role": "assistant", "content": literal(demo.output)})
            messages.append({"role": "user", "content": self._marker() + self.query})
            return messages
        blocks = [self.instruction.strip()] if self.instruction.strip() else []
        cue = self.cue
        blocks += [literal(f"{self.demo_text(d)}\n{cue} {d.output}".rstrip()) for d in self.demos]
        query = f"{self.query}\n{cue}".rstrip() if cue else self.query
        blocks.append(self._marker() + query)
        return "\n\n".join(blocks)

    def _marker(self) -> str:
        return MARKER if self.retrieve else ""


def parts_from_template(template: str | Sequence[Mapping[str, Any]]) -> PromptParts:
    """Parts of a template not made by evolution: chat → system / middle / last user; text → query."""
    parsed = parse_template(template)
    if parsed.kind is TemplateKind.TEXT:
        return PromptParts(form="completion", instruction="", query=parsed.text or "")
    messages = list(parsed.messages)
    instruction = ""
    if messages and messages[0].role == "system":
        instruction = messages.pop(0).content
    if not messages or messages[-1].role != "user":
        raise TemplateError(
            "evolution needs a chat template that ends with the user message holding the input"
        )
    query = messages.pop().content
    return PromptParts(
        form="chat", instruction=instruction, query=query, fixed=tuple((m.role, m.content) for m in messages)
    )


def parts_to_meta(parts: PromptParts) -> dict[str, Any]:
    """A JSON form of the parts, stored in the evolved variant's ``meta["parts"]``."""
    return {
        "form": parts.form,
        "instruction": parts.instruction,
        "query": parts.query,
        "cue": parts.cue,
        "fixed": [list(pair) for pair in parts.fixed],
        "retrieve": parts.retrieve,
        "demos": [
            {"key": d.key, "inputs": dict(d.inputs), "output": d.output, "source": d.source, "score": d.score}
            for d in parts.demos
        ],
    }


def parts_from_meta(meta: Mapping[str, Any], template: str | Sequence[Mapping[str, Any]]) -> PromptParts:
    """The parts stored by evolution when they still render ``template``; else read the template."""
    raw = meta.get("parts")
    if isinstance(raw, Mapping):
        try:
            parts = PromptParts(
                form=raw["form"],
                instruction=raw["instruction"],
                query=raw["query"],
                cue=raw.get("cue", ""),
                fixed=tuple((str(a), str(b)) for a, b in raw.get("fixed", [])),
                demos=tuple(Demo(**d) for d in raw.get("demos", [])),
                retrieve=bool(raw.get("retrieve", False)),
            )
            if _same(parts.to_template(), template):
                return parts
        except (KeyError, TypeError, ValueError, TemplateError):
            pass
    return parts_from_template(template)


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def check_candidate(
    parts: PromptParts,
    settings: ModelSettings,
    *,
    variables: Sequence[str],
    sample_inputs: Mapping[str, Any],
    max_chars: int,
) -> tuple[ParsedTemplate | None, str | None]:
    """(the parsed template, None) when the candidate is usable, else (None, why not).

    Usable means: it parses, declares exactly the parent's variables, renders with an item's inputs,
    and its template is at most ``max_chars`` characters long.
    """
    try:
        template = parts.to_template()
        parsed = parse_template(template)
    except TemplateError as exc:
        return None, f"template does not parse: {exc}"
    if tuple(sorted(parsed.variables)) != tuple(sorted(variables)):
        return None, (
            f"variables changed: parent has {sorted(variables)}, candidate has {sorted(parsed.variables)}"
        )
    size = template_chars(template)
    if size > max_chars:
        return None, f"prompt too long: {size} characters, the limit is {max_chars}"
    try:
        render(parsed, sample_inputs)
    except TemplateError as exc:
        return None, f"template does not render: {exc}"
    return parsed, None


def template_chars(template: str | Sequence[Mapping[str, Any]]) -> int:
    if isinstance(template, str):
        return len(template)
    return sum(len(str(m.get("content", ""))) for m in template)
