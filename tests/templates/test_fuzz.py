"""Fuzzing registration and rendering: whatever the template, the outcome is a refusal with a
``PromptevolveError`` or a render within its limits, never another exception and never an unbounded
output. Templates are generated from Jinja's grammar (loops, conditions, macros, filters, arithmetic
with huge numbers, ranges, private attributes) and as arbitrary text."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptevolve.core.errors import PromptevolveError
from promptevolve.templates import RenderLimits, parse_template, render, vet_template

LIMITS = RenderLimits(max_steps=20_000, max_output_chars=50_000, max_call_depth=8, max_seconds=10.0)

NUMBERS = st.one_of(
    st.integers(-3, 12), st.sampled_from(["10**9", "9**(9**8)", "2.0", "0", "100000", "1e308", "-1"])
).map(str)
STRINGS = st.sampled_from(["'x'", "'ab'", "''", "'%s'", "'{:>99999999}'", "'\\t'", "s"])
NAMES = st.sampled_from(["n", "s", "xs", "d", "i", "missing"])
FILTERS = st.sampled_from(
    [
        "upper",
        "length",
        "list",
        "sum",
        "join",
        "center(n)",
        "indent(n)",
        "replace('', s)",
        "batch(n, 0)",
        "format(n)",
        "string",
        "tojson",
        "first",
        "int",
        "reverse",
        "default('z')",
        "wordwrap(3)",
        "unique",
        "sort",
    ]
)
ATTRIBUTES = st.sampled_from(
    ["upper()", "ljust(n)", "__class__", "keys()", "mro", "format(n)", "_x", "items()"]
)


def _expressions(depth: int) -> st.SearchStrategy[str]:
    leaf = st.one_of(NUMBERS, STRINGS, NAMES, st.just("range(n)"), st.just("[1, 2, n]"), st.just("d"))
    if depth == 0:
        return leaf
    sub = _expressions(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(sub, st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "~"]), sub).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(sub, FILTERS).map(lambda t: f"({t[0]} | {t[1]})"),
        st.tuples(sub, ATTRIBUTES).map(lambda t: f"{t[0]}.{t[1]}"),
        st.tuples(sub, sub).map(lambda t: f"{t[0]}[{t[1]}]"),
        st.tuples(sub).map(lambda t: f"m({t[0]})"),
    )


def _blocks(depth: int) -> st.SearchStrategy[str]:
    expr = _expressions(2)
    leaf = st.one_of(
        st.text(alphabet="ab \n", max_size=5),
        expr.map(lambda e: "{{ " + e + " }}"),
        expr.map(lambda e: "{% set s = " + e + " %}"),
    )
    if depth == 0:
        return leaf
    sub = st.lists(_blocks(depth - 1), max_size=3).map("".join)
    return st.one_of(
        leaf,
        st.tuples(expr, sub).map(lambda t: "{% for i in " + t[0] + " %}" + t[1] + "{% endfor %}"),
        st.tuples(expr, sub, sub).map(
            lambda t: "{% if " + t[0] + " %}" + t[1] + "{% else %}" + t[2] + "{% endif %}"
        ),
    )


MACRO = "{% macro m(v) %}{% if v %}{{ m(v) }}{{ m(v) }}{% endif %}{% endmacro %}"

TEMPLATES = st.tuples(st.booleans(), st.lists(_blocks(2), min_size=1, max_size=4).map("".join)).map(
    lambda t: (MACRO if t[0] else "") + t[1]
)
VARIABLES = st.fixed_dictionaries(
    {
        "n": st.one_of(st.integers(-5, 10**6), st.just(10**100), st.floats(allow_nan=True)),
        "s": st.text(max_size=10),
        "xs": st.lists(st.integers(0, 9), max_size=300),
        "d": st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
        "i": st.integers(),
    }
)


def _register_and_render(source: str, variables: dict[str, object]) -> None:
    try:
        parsed = parse_template(source)
        vet_template(parsed, LIMITS)
    except PromptevolveError:
        return  # refused at registration, with a reason
    try:
        text = render(parsed, variables, limits=LIMITS).prompt.text or ""
    except PromptevolveError:
        return  # refused at render time, with a reason
    # within bounds: expression output and looped literal text are counted; literal text written once is
    # bounded by the template itself
    assert len(text) <= LIMITS.max_output_chars + len(source)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEMPLATES, VARIABLES)
def test_generated_templates_are_refused_or_render_within_bounds(source, variables):
    _register_and_render(source, variables)


TOKENS = st.sampled_from(
    [*"{}%#()[]|.~*'\"x1 \n_-+/", "{{", "}}", "{%", "%}", "for ", " in ", "if ", "endfor", "endif", "macro "]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKENS, max_size=40).map("".join), VARIABLES)
def test_arbitrary_text_is_refused_or_renders_within_bounds(source, variables):
    _register_and_render(source, variables)
