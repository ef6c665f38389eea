"""Parsing and rendering prompt templates, text or chat, in a sandbox.

Templates are Jinja2, rendered by a ``SandboxedEnvironment`` (a template is data that a team or an
optimizer wrote, not code we trust) with ``StrictUndefined`` (a missing value is an error, never an
empty string sent to a model). Variables are discovered once, when a template is parsed, from its AST:
the registry stores them, and rendering checks the caller's variables against them before Jinja runs,
so a missing variable is reported by name and all at once rather than one ``UndefinedError`` at a time.

Rendering is on the hot path of every model call, so it takes a fast path when it can: a template (or
a chat message) made only of literal text and plain ``{{ name }}`` substitutions is reduced, once, from
its Jinja AST to a list of segments and rendered by joining strings (a few µs instead of ~15 µs per
part for ``Template.render``). The segments come from Jinja's own parse, so the output is identical
(``tests/templates`` checks it on random templates); anything else (filters, blocks, attributes) goes
through Jinja. Compiled templates and segment lists are cached by source, and a parsed template keeps
its own plain form (``_Plain``: each part's segments, a part without variables already rendered), so a
render of a plain template given a ``dict`` looks nothing up.

Everything that goes through Jinja is bounded (``templates.sandbox``: steps, output, call depth, time),
and every failure of a render, whatever Python raised inside (``ZeroDivisionError``, ``TypeError``,
``OverflowError``, a ``RecursionError``, a caller's value whose ``str()`` fails), comes out as a
``TemplateError`` naming the original error: a template is data, and its failures are the template's.
``vet_template`` refuses at registration what can never render safely (``templates.vetting``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta, nodes

from promptevolve.core.errors import (
    MissingVariableError,
    PromptevolveError,
    TemplateError,
    TemplateSyntaxError,
    TemplateUnsafeError,
)
from promptevolve.core.types import ChatMessage, RenderedPrompt, TemplateKind
from promptevolve.templates.sandbox import (
    DEFAULT_LIMITS,
    RenderBudget,
    RenderLimits,
    bounded_render,
    new_environment,
)
from promptevolve.templates.vetting import template_problems

__all__ = [
    "CHAT_ROLES",
    "ParsedTemplate",
    "RenderResult",
    "is_plain",
    "parse_template",
    "render",
    "render_messages",
    "template_to_json",
    "vet_template",
]

CHAT_ROLES = frozenset({"system", "user", "assistant", "developer", "tool"})


@dataclass(frozen=True, slots=True)
class ParsedTemplate:
    """A validated template: its kind, its parts (one text, or one per message) and its variables."""

    kind: TemplateKind
    text: str | None
    messages: tuple[ChatMessage, ...]
    variables: tuple[str, ...]
    #: How a plain template renders (``_Plain``), False when it needs Jinja, None until first rendered:
    #: worked out once per template, not per call (not part of its value: no eq, hash or repr).
    _plain: _Plain | bool | None = field(default=None, init=False, repr=False, compare=False)

    def sources(self) -> tuple[str, ...]:
        if self.kind is TemplateKind.TEXT:
            return (self.text or "",)
        return tuple(m.content for m in self.messages)


@dataclass(frozen=True, slots=True)
class _Plain:
    """A plain template (literal text and ``{{ name }}`` only) ready to join: each part's role (``user``
    for a text template), its segments, and its text when it has no variable (then its message is made
    once too, in ``fixed``); and the set of the template's variables."""

    parts: tuple[tuple[str, Segments, str | None], ...]
    fixed: tuple[ChatMessage | None, ...]
    names: frozenset[str]


@dataclass(frozen=True, slots=True)
class RenderResult:
    """A rendered prompt and the caller's variables the template did not use (reported, not fatal)."""

    prompt: RenderedPrompt
    unexpected_variables: tuple[str, ...]


_ENV = new_environment()


@lru_cache(maxsize=4096)
def _compile(source: str) -> jinja2.Template:
    return _ENV.compile_bounded(source)


def _parse(source: str, where: str) -> nodes.Template:
    if "\x00" in source:
        raise TemplateError(f"{where} contains a NUL character (U+0000), which no store can hold")
    try:
        source.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TemplateError(
            f"{where} contains a lone surrogate at character {exc.start}: not valid Unicode text"
        ) from None
    try:
        return _ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateSyntaxError(
            f"template syntax error in {where}, line {exc.lineno}: {exc.message}"
        ) from None
    except RecursionError:
        raise TemplateSyntaxError(
            f"template syntax error in {where}: expressions nested too deeply"
        ) from None


Segments = tuple[tuple[str, str | None], ...]


# Sized for registries of 10,000 prompts with two live chat variants each (every message is a source):
# at 4,096 such traffic missed on most calls and re-parsed the message through Jinja (bench/hot_path.py
# --scale). An entry is a tuple of short strings.
@lru_cache(maxsize=65_536)
def _segments(source: str) -> Segments | None:
    """Literal text and plain ``{{ name }}`` parts in order, or None if the template needs Jinja."""
    try:
        body = _ENV.parse(source).body
    except (jinja2.TemplateSyntaxError, RecursionError):
        return None
    out: list[tuple[str, str | None]] = []
    for node in body:
        if not isinstance(node, nodes.Output):
            return None
        for part in node.nodes:
            if isinstance(part, nodes.TemplateData):
                out.append((part.data, None))
            elif isinstance(part, nodes.Name) and part.ctx == "load":
                out.append(("", part.name))
            else:
                return None
    return tuple(out)


def _variables_of(source: str, where: str) -> set[str]:
    ast = _parse(source, where)
    try:
        return set(meta.find_undeclared_variables(ast))
    except RecursionError:
        raise TemplateSyntaxError(
            f"template syntax error in {where}: expressions nested too deeply"
        ) from None
    except Exception as exc:  # Jinja evaluating a constant part that always fails: {{ "x" ~ 1.mro }}
        raise TemplateError(f"{where} always fails: {type(exc).__name__}: {_short(exc)}") from None


def _parse_messages(raw: Sequence[Any]) -> tuple[ChatMessage, ...]:
    if not raw:
        raise TemplateError("a chat template needs at least one message")
    messages = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or set(item) - {"role", "content"} or "content" not in item:
            raise TemplateError(
                f"chat message {i} must be an object with 'role' and 'content' only, got {item!r}"
            )
        role, content = item.get("role"), item["content"]
        if role not in CHAT_ROLES:
            raise TemplateError(
                f"chat message {i} has role {role!r}; expected one of {', '.join(sorted(CHAT_ROLES))}"
            )
        if not isinstance(content, str):
            raise TemplateError(f"chat message {i} content must be a string")
        messages.append(ChatMessage(role=role, content=content))
    return tuple(messages)


def parse_template(source: str | Sequence[Mapping[str, Any]]) -> ParsedTemplate:
    """Validate a template and find its variables; raises ``TemplateError`` naming what is wrong.

    ``source`` is a string (a text template) or a list of ``{"role", "content"}`` messages (chat).
    """
    if isinstance(source, str):
        if not source.strip():
            raise TemplateError("the template is empty")
        text_names = _variables_of(source, "the template")
        return ParsedTemplate(TemplateKind.TEXT, source, (), tuple(sorted(text_names)))
    if not isinstance(source, Sequence):
        raise TemplateError(f"a template must be a string or a list of messages, got {type(source).__name__}")
    messages = _parse_messages(source)
    names: set[str] = set()
    for i, message in enumerate(messages):
        names |= _variables_of(message.content, f"message {i} ({message.role})")
    return ParsedTemplate(TemplateKind.CHAT, None, messages, tuple(sorted(names)))


def vet_template(template: ParsedTemplate, limits: RenderLimits = DEFAULT_LIMITS) -> None:
    """Refuse (``TemplateUnsafeError``, every reason listed) a template that can never render safely:
    unsafe attribute access, other templates, oversized ranges and loops, huge constant expressions."""
    problems = []
    for i, source in enumerate(template.sources()):
        where = "the template" if template.kind is TemplateKind.TEXT else f"message {i}"
        try:
            found = template_problems(_parse(source, where), limits)
        except RecursionError:
            found = ["expressions nested too deeply to check"]
        problems += [f"{where}, {p}" for p in found]
    if problems:
        raise TemplateUnsafeError("template refused: " + "; ".join(problems))


def is_plain(template: ParsedTemplate) -> bool:
    """Whether every part is literal text and ``{{ name }}`` only: rendered in microseconds, without
    Jinja (callers may then skip moving the render off an event loop)."""
    return all(_segments(source) is not None for source in template.sources())


def _text_of(name: str, value: Any) -> str:
    try:
        return str(value)
    except Exception as exc:
        raise TemplateError(
            f"template rendering failed: variable {name!r} cannot be written as text "
            f"({type(exc).__name__}: {exc})"
        ) from None


def _join(segments: Segments, variables: Mapping[str, Any]) -> str:
    """A plain template's text: its literal parts and ``str()`` of its variables, joined."""
    try:
        return "".join([text if name is None else str(variables[name]) for text, name in segments])
    except Exception:  # hot path: find which variable failed only when one did
        return "".join(text if name is None else _text_of(name, variables[name]) for text, name in segments)


def _render_jinja(source: str, variables: Mapping[str, Any], budget: RenderBudget) -> str:
    try:
        return bounded_render(_compile(source), variables, budget)
    except jinja2.UndefinedError as exc:
        # Reached only for names the AST could not see (attributes of a provided value, say).
        raise MissingVariableError(f"template rendering failed: {exc.message}") from None
    except PromptevolveError:
        raise
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template rendering failed: {exc}") from None
    except Exception as exc:  # whatever Python raised inside the template: the template's failure
        raise TemplateError(f"template rendering failed: {type(exc).__name__}: {_short(exc)}") from None


def _short(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        return "(no message)"
    return text if len(text) <= 300 else text[:300] + "…"


def _plain_of(template: ParsedTemplate) -> _Plain | None:
    """The template's ``_Plain`` form, worked out on its first render; None if it needs Jinja."""
    plain = template._plain
    if plain is None:
        segments = [_segments(source) for source in template.sources()]
        if any(s is None for s in segments):
            plain = False
        else:
            roles = ["user"] if template.kind is TemplateKind.TEXT else [m.role for m in template.messages]
            parts = tuple(
                (role, s, "".join(text for text, _ in s) if all(n is None for _, n in s) else None)
                for role, s in zip(roles, segments, strict=True)
                if s is not None
            )
            fixed = tuple(None if text is None else ChatMessage(role, text) for role, _, text in parts)
            plain = _Plain(parts, fixed, frozenset(template.variables))
        object.__setattr__(template, "_plain", plain)  # the same value whichever thread gets here first
    return plain if isinstance(plain, _Plain) else None


def _joined(plain: _Plain, variables: Mapping[str, Any]) -> list[str] | None:
    """Each part of a plain template filled in, when ``variables`` is a ``dict`` that has every name
    and every value converts to text; else None, and the checked path reports what is wrong. (Only an
    exact ``dict``: a mapping with ``__missing__`` must not invent a missing variable.)"""
    if type(variables) is not dict:
        return None
    try:
        return [
            "".join([t if n is None else str(variables[n]) for t, n in segments]) if fixed is None else fixed
            for _, segments, fixed in plain.parts
        ]
    except Exception:
        return None


def render(
    template: ParsedTemplate, variables: Mapping[str, Any], *, limits: RenderLimits = DEFAULT_LIMITS
) -> RenderResult:
    """Fill a template in; every declared variable must be given, extra ones are reported back.

    Raises only ``TemplateError`` (and its children): a missing variable, a failure inside the template,
    or a render stopped by ``limits`` (``TemplateLimitError``)."""
    plain = _plain_of(template)
    texts = _joined(plain, variables) if plain is not None else None
    if plain is not None and texts is not None:
        extra = variables.keys() - plain.names
        unexpected = tuple(sorted(extra)) if extra else ()
        if template.kind is TemplateKind.TEXT:
            return RenderResult(RenderedPrompt(TemplateKind.TEXT, texts[0]), unexpected)
        messages = tuple(
            [
                ChatMessage(role, text) if fixed is None else fixed
                for (role, _, _), fixed, text in zip(plain.parts, plain.fixed, texts, strict=True)
            ]
        )
        return RenderResult(RenderedPrompt(TemplateKind.CHAT, None, messages), unexpected)
    parts = _filled_parts(template, variables, limits)
    extra = variables.keys() - template.variables
    unexpected = tuple(sorted(extra)) if extra else ()
    if template.kind is TemplateKind.TEXT:
        prompt = RenderedPrompt(TemplateKind.TEXT, text=parts[0])
    else:
        messages = tuple(ChatMessage(m.role, text) for m, text in zip(template.messages, parts, strict=True))
        prompt = RenderedPrompt(TemplateKind.CHAT, messages=messages)
    return RenderResult(prompt=prompt, unexpected_variables=unexpected)


def render_messages(
    template: ParsedTemplate, variables: Mapping[str, Any], *, limits: RenderLimits = DEFAULT_LIMITS
) -> list[dict[str, str]]:
    """``render(template, variables).prompt.as_messages()`` (same checks, same errors), without the
    rendered prompt's objects or the unexpected-variable report: the SDK's ``PromptHandle.messages``,
    an application's hot path."""
    plain = _plain_of(template)
    if plain is not None and type(variables) is dict:
        try:  # the plain parts joined straight into the messages
            return [
                {
                    "role": role,
                    "content": "".join([t if n is None else str(variables[n]) for t, n in segments])
                    if fixed is None
                    else fixed,
                }
                for role, segments, fixed in plain.parts
            ]
        except Exception:
            pass  # a missing variable, a value str() fails on: the checked path below says which
    parts = _filled_parts(template, variables, limits)
    if template.kind is TemplateKind.TEXT:
        return [{"role": "user", "content": parts[0]}]
    return [{"role": m.role, "content": text} for m, text in zip(template.messages, parts, strict=True)]


def _filled_parts(template: ParsedTemplate, variables: Mapping[str, Any], limits: RenderLimits) -> list[str]:
    """The text of each part (the template's text, or each message's content) with ``variables`` in."""
    missing = [name for name in template.variables if name not in variables]
    if missing:
        raise MissingVariableError(
            f"missing template variable{'s' if len(missing) > 1 else ''}: {', '.join(missing)}",
            missing=tuple(missing),
        )
    # The budget bounds Jinja's work, so it is made only for a template that needs Jinja (one budget for
    # all the parts of one render); plain parts are joined in microseconds.
    budget: RenderBudget | None = None
    parts = []
    for source in template.sources():
        segments = _segments(source)
        if segments is not None:
            parts.append(_join(segments, variables))
        else:
            budget = budget or RenderBudget(limits)
            parts.append(_render_jinja(source, variables, budget))
    return parts


def template_to_json(template: ParsedTemplate) -> str | list[dict[str, str]]:
    """The storable form of a template: the text, or the list of messages."""
    if template.kind is TemplateKind.TEXT:
        return template.text or ""
    return [{"role": m.role, "content": m.content} for m in template.messages]
