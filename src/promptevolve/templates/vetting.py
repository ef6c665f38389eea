"""Refusing, at registration, templates that can never render safely (pure).

The sandbox refuses unsafe things per call, at render time; a template that does one on every call is
better refused once, when it is registered, with the reason. The checks read Jinja's AST as parsed
(Jinja folds constants only later, while generating code), so nothing here evaluates anything big:

- **unsafe attribute access**: ``x.__class__``, ``x['__globals__']``, ``x | attr('__dict__')``,
  ``gi_frame`` … (any name the
  sandbox refuses: private or dunder names and the frame/code attributes of generators and coroutines);
- **other templates**: ``include``, ``import``, ``extends`` (templates are standalone; there is no
  loader, so these fail on every call);
- **oversized ranges**: ``range(...)`` of constant bounds with more items than the sandbox allows, and
  nested loops over constant ranges whose product passes the step limit;
- **huge constant expressions**: ``9 ** (9 ** 8)``, ``'x' * 10 ** 9`` — constant arithmetic is evaluated
  bottom-up only while every intermediate result stays within the render limits.

Templates that pass can still stop at render time on their input (a loop over a huge list given as a
variable); those are bounded by ``templates.sandbox``.
"""

from __future__ import annotations

from typing import Any

from jinja2 import nodes
from jinja2.sandbox import (
    MAX_RANGE,
    UNSAFE_ASYNC_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES,
    UNSAFE_FUNCTION_ATTRIBUTES,
    UNSAFE_GENERATOR_ATTRIBUTES,
    UNSAFE_METHOD_ATTRIBUTES,
    SandboxedEnvironment,
)

from promptevolve.core.errors import PromptevolveError
from promptevolve.templates.sandbox import RenderLimits, check_binop

__all__ = ["template_problems"]

_UNSAFE_NAMES = (
    UNSAFE_FUNCTION_ATTRIBUTES
    | UNSAFE_METHOD_ATTRIBUTES
    | UNSAFE_GENERATOR_ATTRIBUTES
    | UNSAFE_COROUTINE_ATTRIBUTES
    | UNSAFE_ASYNC_GENERATOR_ATTRIBUTES
    | {"mro", "format_map"}
)
_OPERATORS: dict[type[nodes.Node], str] = {
    nodes.Add: "+",
    nodes.Sub: "-",
    nodes.Mul: "*",
    nodes.Div: "/",
    nodes.FloorDiv: "//",
    nodes.Mod: "%",
    nodes.Pow: "**",
}


class _NotConstant(Exception):
    """The expression depends on variables (or is not one we evaluate): nothing to check statically."""


def _unsafe_attribute(name: Any) -> bool:
    return isinstance(name, str) and (name.startswith("_") or name in _UNSAFE_NAMES)


def _attribute_problems(ast: nodes.Template) -> list[str]:
    problems = []
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        if isinstance(node, nodes.Getattr):
            name: Any = node.attr
        elif isinstance(node, nodes.Filter):  # x | attr('__class__')
            first = node.args[0] if node.name == "attr" and node.args else None
            name = first.value if isinstance(first, nodes.Const) else None
        else:
            assert isinstance(node, nodes.Getitem)  # the last of the three kinds find_all yields
            name = node.arg.value if isinstance(node.arg, nodes.Const) else None
        if _unsafe_attribute(name):
            problems.append(f"line {node.lineno}: unsafe attribute access {name!r} (the sandbox refuses it)")
    return problems


def _inclusion_problems(ast: nodes.Template) -> list[str]:
    return [
        f"line {node.lineno}: {type(node).__name__.lower()} of another template (templates are standalone)"
        for node in ast.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))
    ]


def _constant(node: nodes.Node, limits: RenderLimits) -> Any:
    """The value of a constant arithmetic expression, refusing (``PromptevolveError``) any step whose
    result would pass the limits; ``_NotConstant`` when it depends on anything else."""
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.Neg):
        return -_constant(node.node, limits)
    if isinstance(node, nodes.Pos):
        return +_constant(node.node, limits)
    operator = _OPERATORS.get(type(node))
    if operator is None or not isinstance(node, nodes.BinExpr):
        raise _NotConstant
    left, right = _constant(node.left, limits), _constant(node.right, limits)
    check_binop(operator, left, right, limits)
    environment = node.environment
    if environment is None:
        return None
    try:
        # Templates are parsed by the sandbox, which alone has a binop_table; any other environment
        # raises here and the expression counts as not constant, as before.
        table = environment.binop_table if isinstance(environment, SandboxedEnvironment) else {}
        return table[operator](left, right)
    except Exception:  # 1 / 0 and the like: a render-time error, not a size problem
        raise _NotConstant from None


def _expression_problems(ast: nodes.Template, limits: RenderLimits) -> list[str]:
    problems = []
    for node in ast.find_all(nodes.BinExpr):
        try:
            _constant(node, limits)
        except _NotConstant:
            continue
        except PromptevolveError as exc:
            reason = str(exc).removeprefix("template rendering stopped: ")
            problems.append(f"line {node.lineno}: constant expression too large: {reason}")
    return _first_per_line(problems)


def _first_per_line(problems: list[str]) -> list[str]:
    """An expression and its sub-expressions fail together; report each line once."""
    seen, out = set(), []
    for p in problems:
        line = p.split(":", 1)[0]
        if line not in seen:
            seen.add(line)
            out.append(p)
    return out


def _range_length(node: nodes.Node, limits: RenderLimits) -> int | None:
    """The length of ``range(<constants>)``, or None if ``node`` is not one."""
    if not (isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == "range"):
        return None
    if node.kwargs or node.dyn_args or node.dyn_kwargs or not 1 <= len(node.args) <= 3:
        return None
    try:
        bounds = [_constant(arg, limits) for arg in node.args]
        if not all(isinstance(b, int) for b in bounds) or (len(bounds) == 3 and bounds[2] == 0):
            return None
        return len(range(*bounds))
    except (_NotConstant, PromptevolveError, OverflowError):
        return None


def _range_problems(ast: nodes.Template, limits: RenderLimits) -> list[str]:
    problems = []
    for node in ast.find_all(nodes.Call):
        n = _range_length(node, limits)
        if n is not None and n > MAX_RANGE:
            problems.append(f"line {node.lineno}: range of {n:,} items (the sandbox allows {MAX_RANGE:,})")
    problems += _loop_problems(ast, 1, limits)
    return problems


def _loop_problems(node: nodes.Node, outer: int, limits: RenderLimits) -> list[str]:
    """Nested loops over constant ranges multiply: refuse a nest that passes the step limit."""
    problems = []
    for child in node.iter_child_nodes():
        total = outer
        if isinstance(child, nodes.For):
            total = outer * (_range_length(child.iter, limits) or 1)
            if total > limits.max_steps:
                problems.append(
                    f"line {child.lineno}: nested loops of {total:,} iterations "
                    f"(a render may take {limits.max_steps:,} steps)"
                )
                continue
        problems += _loop_problems(child, total, limits)
    return problems


def template_problems(ast: nodes.Template, limits: RenderLimits) -> list[str]:
    """Every reason the template can never render safely (empty: none found)."""
    found = (
        _attribute_problems(ast)
        + _inclusion_problems(ast)
        + _range_problems(ast, limits)
        + _expression_problems(ast, limits)
    )
    return list(dict.fromkeys(found))
