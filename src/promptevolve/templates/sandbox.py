"""The bounded sandbox: Jinja's ``SandboxedEnvironment`` with a budget of work and output per render.

Jinja's sandbox stops a template from reaching Python internals; it does not stop a template from
running for ever or filling memory (``{% for i in range(10**5) %}{% for j in range(10**5) %}…``,
``{{ 9 ** (9 ** 8) }}``, ``{{ "x" | center(10**9) }}``). Prompts are written by people and by
optimizers, so every render here runs under a ``RenderLimits`` budget, and the first limit passed
aborts the render with a ``TemplateLimitError`` naming the limit:

- **steps**: every loop iteration and every call (function, method, macro, filter) costs one step, and
  work on large values costs one more step per 16 items or characters of the value; a render may
  spend ``max_steps``;
- **output**: the characters a render writes may not pass ``max_output_chars``: every ``{{ … }}``
  counts what it writes (Jinja's ``finalize`` hook, so output inside macros and ``set`` blocks counts
  too), and every loop iteration counts the literal text of its body. Literal text outside loops is
  bounded by the template's own size and not counted. Values built on the way (strings, lists,
  numbers) are held to the same size and to ``max_int_bits``, checked *before* the operation that
  would build them (``*``, ``**``, ``+``, ``center``, ``indent``, ``replace``, format widths…), so a
  huge value is never allocated;
- **depth**: calls (macros calling macros) nest at most ``max_call_depth`` deep, so recursion ends with
  this error rather than Python's ``RecursionError``;
- **time**: ``max_seconds`` of the given ``clock``, checked every 1,024 steps, so work the step count
  does not see (a slow ``__str__`` of a caller's value) is bounded too.

How: loops are wrapped in a counting iterator and concatenations (``~``) in a bounded join by a small
AST transform before compilation; calls and arithmetic operators go through the sandbox's ``call`` and
``call_binop`` hooks (``intercepted_binops``), and every filter through a wrapper. Intercepting the
arithmetic operators also stops Jinja from folding constant expressions at compile time (it folds
``9 ** (9 ** 8)`` while generating code, even with ``optimized=False``), which is what made such a
template hang at registration.

The budget of the render in progress lives in a ``ContextVar`` (the hooks receive no render state),
set only for the duration of ``bounded_render``: concurrent renders in threads or tasks never share it.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import StrictUndefined, nodes
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

from promptevolve.core.errors import TemplateLimitError

__all__ = [
    "DEFAULT_LIMITS",
    "BoundedEnvironment",
    "RenderBudget",
    "RenderLimits",
    "bounded_render",
    "check_binop",
    "new_environment",
]


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """What one render (every message of a prompt together) may spend."""

    max_steps: int = 1_000_000
    max_output_chars: int = 4_000_000  # about a million tokens: the largest context windows
    max_call_depth: int = 32
    max_int_bits: int = 12_000  # about 3,600 digits: under Python's 4,300-digit int↔str limit
    max_seconds: float | None = 2.0
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)


DEFAULT_LIMITS = RenderLimits()

_CHECK_CLOCK_EVERY = 1024


class _Budget:
    """The spending of one render in progress."""

    __slots__ = ("deadline", "depth", "limits", "next_clock_check", "steps", "written")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.steps = 0
        self.written = 0
        self.depth = 0
        self.next_clock_check = _CHECK_CLOCK_EVERY
        self.deadline = None if limits.max_seconds is None else limits.clock() + limits.max_seconds

    def charge(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > self.limits.max_steps:
            raise TemplateLimitError(
                f"template rendering stopped: more than {self.limits.max_steps:,} steps (loop iterations "
                "and calls); simplify the template's loops"
            )
        if self.deadline is not None and self.steps >= self.next_clock_check:
            self.next_clock_check = self.steps + _CHECK_CLOCK_EVERY
            if self.limits.clock() > self.deadline:
                raise TemplateLimitError(
                    f"template rendering stopped: it ran longer than {self.limits.max_seconds:g} s"
                )

    def write(self, chars: int) -> None:
        self.written += chars
        if self.written > self.limits.max_output_chars:
            raise _too_big("the rendered prompt", self.written, self.limits.max_output_chars, "characters")


_BUDGET: ContextVar[_Budget | None] = ContextVar("promptevolve_render_budget", default=None)


def _budget() -> _Budget:
    """The budget of the render in progress; outside one (Jinja folding constants while compiling),
    a fresh default budget, so size checks still refuse and the value is left for render time."""
    return _BUDGET.get() or _Budget(DEFAULT_LIMITS)


def _size(value: Any) -> int:
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset | range):
        return len(value)
    return 0


def _too_big(what: str, size: float, limit: int, unit: str) -> TemplateLimitError:
    return TemplateLimitError(
        f"template rendering stopped: {what} would be about {size:,.0f} {unit}, over the limit of {limit:,}"
    )


# --- size checks shared by the render hooks and the static vetting -----------------------------------


_LOG10_2 = math.log10(2)


def _digits(limits: RenderLimits) -> int:
    return int(limits.max_int_bits * _LOG10_2)


def check_binop(operator: str, left: Any, right: Any, limits: RenderLimits) -> None:
    """Refuse an arithmetic operation whose result would pass the limits, before computing it."""
    ints = isinstance(left, int) and isinstance(right, int)
    if operator == "**" and ints and right > 0 and abs(left) > 1:
        bits = right * math.log2(abs(left))
        if bits > limits.max_int_bits:
            raise _too_big(f"{left} ** {right}", bits * _LOG10_2, _digits(limits), "digits")
    elif operator == "*" and ints:
        if left.bit_length() + right.bit_length() > limits.max_int_bits:
            bits = left.bit_length() + right.bit_length()
            raise _too_big("a product", bits * _LOG10_2, _digits(limits), "digits")
    elif operator == "*":
        seq, n = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(n, int) and _size(seq) * n > limits.max_output_chars:
            raise _too_big("a repeated value", _size(seq) * n, limits.max_output_chars, "items")
    elif operator == "+" and _size(left) + _size(right) > limits.max_output_chars:
        raise _too_big("a concatenation", _size(left) + _size(right), limits.max_output_chars, "items")
    elif operator == "%" and isinstance(left, str):
        _check_format(left, right if isinstance(right, tuple) else (right,), {}, limits)


_NUMBER = re.compile(r"\d+")


def _check_format(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], limits: RenderLimits) -> None:
    """Widths in a format string (``{:>999999999}``, ``%999999999s``, ``%*s``) decide its size."""
    widths = [int(n) for n in _NUMBER.findall(fmt) if len(n) <= 12]
    if "*" in fmt:
        widths += [a for a in (*args, *kwargs.values()) if isinstance(a, int)]
    estimate = len(fmt) + sum(max(w, 0) for w in widths)
    if estimate > limits.max_output_chars or any(len(n) > 12 for n in _NUMBER.findall(fmt)):
        raise _too_big("a formatted string", estimate, limits.max_output_chars, "characters")


def _estimate(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> float:
    """An upper bound of the size a widening filter or string method would produce (0: not widening)."""
    n = _size(value)
    given = [*args, *kwargs.values()]
    ints = [a for a in given if isinstance(a, int) and not isinstance(a, bool)]
    if name in ("center", "ljust", "rjust", "zfill"):
        return max([n, *ints])
    if name == "indent":
        lines = value.count("\n") + 1 if isinstance(value, str) else 1
        width = max([0, *ints, *(len(a) for a in given if isinstance(a, str))])
        return n + width * lines
    if name == "expandtabs" and isinstance(value, str):
        return n + value.count("\t") * max([8, *ints])
    if name == "replace" and isinstance(value, str):
        strings = [a for a in given if isinstance(a, str)]
        if len(strings) < 2:
            return 0.0
        old, new = strings[0], strings[1]
        return n + (value.count(old) if old else n + 1) * max(len(new) - len(old), 0)
    if name == "wordwrap":
        width = max(ints[0] if ints else 79, 1)
        wrap = max((len(a) for a in given if isinstance(a, str)), default=1)
        return n + (n // width + 1) * wrap
    if name in ("batch", "slice"):
        return max([0, *ints])
    if name in ("lipsum", "generate_lorem_ipsum"):
        count = ints[0] if ints else 5
        words = kwargs.get("max", ints[2] if len(ints) > 2 else 100)
        return count * max(int(words), 0) * 12
    return 0.0


def _check_call(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    budget = _budget()
    limits = budget.limits
    budget.charge(1 + _size(value) // 16)
    if name in ("format", "format_map") and isinstance(value, str):
        _check_format(value, args, kwargs, limits)
        return
    estimate = _estimate(name, value, args, kwargs)
    if estimate > limits.max_output_chars:
        raise _too_big(f"the result of {name}()", estimate, limits.max_output_chars, "characters")


def _check_result(name: str, result: Any) -> Any:
    limit = _budget().limits.max_output_chars
    if _size(result) > limit:
        raise _too_big(f"the result of {name}()", _size(result), limit, "items")
    return result


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    passes_context = getattr(func, "jinja_pass_arg", None) is not None

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        value, rest = (args[1], args[2:]) if passes_context else (args[0], args[1:])
        _check_call(name, value, rest, kwargs)
        return _check_result(name, func(*args, **kwargs))

    return bounded


# --- the environment ---------------------------------------------------------------------------------


class _BoundLoopsAndJoins(NodeTransformer):
    """Route every ``for`` loop's iterable through ``environment.counted`` and every ``~`` through
    ``environment.bounded_join``, so both are charged to the render's budget."""

    def __init__(self, environment: jinja2.Environment) -> None:
        self.environment = environment

    def _call(self, name: str, arg: nodes.Node, lineno: int) -> nodes.Call:
        call = nodes.Call(nodes.EnvironmentAttribute(name), [arg], [], None, None, lineno=lineno)
        call.set_environment(self.environment)
        return call

    def visit_For(self, node: nodes.For) -> nodes.Node:
        literal = sum(len(d.data) for part in node.body for d in part.find_all(nodes.TemplateData))
        literal += sum(len(d.data) for d in node.body if isinstance(d, nodes.TemplateData))
        visited = self.generic_visit(node)
        assert isinstance(visited, nodes.For)
        call = self._call("counted", visited.iter, visited.lineno)
        call.args.append(nodes.Const(literal, lineno=visited.lineno))
        call.set_environment(self.environment)
        visited.iter = call
        return visited

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        visited = self.generic_visit(node)
        assert isinstance(visited, nodes.Concat)
        parts = nodes.List(list(visited.nodes), lineno=visited.lineno)
        parts.set_environment(self.environment)
        return self._call("bounded_join", parts, visited.lineno)


class BoundedEnvironment(SandboxedEnvironment):
    """The sandbox with budget hooks; compile through ``compile_bounded``, render with
    ``bounded_render``."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}

    def compile_bounded(self, source: str) -> jinja2.Template:
        ast = self.parse(source)
        _BoundLoopsAndJoins(self).visit(ast)
        return self.from_string(ast)

    # Hooks the compiled templates call; ``environment.counted`` / ``bounded_join`` are reached through
    # ``call`` (the sandbox routes every call there), which charges and tracks depth.

    @staticmethod
    def counted(iterable: Iterable[Any], literal_chars: int) -> Iterator[Any]:
        budget = _budget()
        for item in iterable:
            budget.charge()
            budget.write(literal_chars)
            yield item

    @staticmethod
    def bounded_join(parts: list[Any]) -> str:
        text = "".join(str(p) for p in parts)
        return _check_result("a concatenation (~)", text)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        name = getattr(__obj, "__name__", "a call")
        # str.format reaches here wrapped by the sandbox; the string is the wrapped method's owner.
        owner = getattr(__obj, "__self__", None) or getattr(
            getattr(__obj, "__wrapped__", None), "__self__", None
        )
        _check_call(name, owner, args, kwargs)
        budget.depth += 1
        try:
            if budget.depth > budget.limits.max_call_depth:
                raise TemplateLimitError(
                    f"template rendering stopped: calls nested deeper than {budget.limits.max_call_depth} "
                    "(a macro calling itself without end?)"
                )
            return _check_result(name, super().call(__context, __obj, *args, **kwargs))
        finally:
            budget.depth -= 1

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = _budget()
        budget.charge(1 + (_size(left) + _size(right)) // 16)
        check_binop(operator, left, right, budget.limits)
        return super().call_binop(context, operator, left, right)


def _count_output(value: Any) -> str:
    """Jinja's ``finalize`` hook: every ``{{ … }}`` passes here with what it writes."""
    text = value if isinstance(value, str) else str(value)
    _budget().write(len(text))
    return text


def new_environment() -> BoundedEnvironment:
    # keep_trailing_newline: a prompt's final newline can matter for completion-style prompts.
    return BoundedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=False,
        finalize=_count_output,
    )


class RenderBudget:
    """One budget for one prompt's render (all its messages): what ``bounded_render`` spends from."""

    __slots__ = ("_budget",)

    def __init__(self, limits: RenderLimits = DEFAULT_LIMITS) -> None:
        self._budget = _Budget(limits)


def bounded_render(template: jinja2.Template, variables: Mapping[str, Any], budget: RenderBudget) -> str:
    """Render ``template`` spending from ``budget``; the first limit passed raises ``TemplateLimitError``."""
    token = _BUDGET.set(budget._budget)
    try:
        return template.render(variables)
    finally:
        _BUDGET.reset(token)
