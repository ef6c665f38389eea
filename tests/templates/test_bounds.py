"""Rendering is bounded (steps, output, depth, time) and every failure inside a template is a
``TemplateError``; templates that can never render safely are refused at registration."""

from __future__ import annotations

import itertools
import threading

import pytest

from promptevolve.core.errors import TemplateError, TemplateLimitError, TemplateUnsafeError
from promptevolve.templates import RenderLimits, parse_template, render, vet_template


def _render(source: str, limits: RenderLimits | None = None, **variables: object) -> str:
    parsed = parse_template(source)
    if limits is None:
        return render(parsed, variables).prompt.text or ""
    return render(parsed, variables, limits=limits).prompt.text or ""


@pytest.mark.parametrize(
    ("source", "variables", "original"),
    [
        ("{{ 1 / 0 }}", {}, "ZeroDivisionError"),
        ("{{ n % 0 }}", {"n": 3}, "ZeroDivisionError"),
        ("{{ x + 1 }}", {"x": "a"}, "TypeError"),
        ("{{ 2.0 ** 10000 }}", {}, "OverflowError"),
        ("{% for i in 5 %}{% endfor %}", {}, "TypeError"),
        ('{{ x.index("z") }}', {"x": "abc"}, "ValueError"),
        ("{{ d|tojson }}", {"d": {"a": object()}}, "TypeError"),
    ],
)
def test_python_errors_inside_a_template_come_out_as_template_errors(source, variables, original):
    with pytest.raises(TemplateError, match=original):
        _render(source, **variables)


def test_a_macro_calling_itself_stops_at_the_depth_limit_not_with_recursion_error():
    with pytest.raises(TemplateLimitError, match="nested deeper than 32"):
        _render("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}")


def test_a_variable_whose_str_fails_is_a_template_error_on_the_fast_path_too():
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    with pytest.raises(TemplateError, match="variable 'x' cannot be written as text"):
        _render("Hello {{ x }}", x=Broken())
    with pytest.raises(TemplateError, match="cannot be written as text"):
        _render("Hello {{ x }}", x=10**5000)


def test_nested_loops_over_a_variable_stop_at_the_step_limit():
    limits = RenderLimits(max_steps=10_000, max_seconds=None)
    with pytest.raises(TemplateLimitError, match="more than 10,000 steps"):
        _render("{% for i in xs %}{% for j in xs %}{% endfor %}{% endfor %}", limits, xs=list(range(1000)))


def test_a_loop_writing_a_large_value_stops_at_the_output_limit():
    limits = RenderLimits(max_output_chars=50_000)
    with pytest.raises(TemplateLimitError, match="rendered prompt would be about"):
        _render("{% for i in range(1000) %}{{ doc }}{% endfor %}", limits, doc="x" * 100)


def test_literal_text_repeated_by_a_loop_counts_as_output_even_inside_a_macro():
    limits = RenderLimits(max_output_chars=50_000)
    body = "y" * 100
    source = (
        f"{{% macro m() %}}{{% for i in range(1000) %}}{body}{{% endfor %}}{{% endmacro %}}"
        "{% set s = m() %}."
    )
    with pytest.raises(TemplateLimitError, match="rendered prompt"):
        _render(source, limits)


@pytest.mark.parametrize(
    "source",
    [
        '{{ "x" | center(10**9) }}',
        "{{ x.ljust(10**9) }}",
        '{{ "x" * n }}',
        "{{ n ** n }}",
        '{{ "{:>999999999}".format(1) }}',
        '{{ "%999999999s" | format(1) }}',
        "{{ lipsum(100000) }}",
        "{{ [1] | batch(10**9, 0) | list }}",
        '{% set ns = namespace(s="x") %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}',
        "{% set ns = namespace(s=[1]) %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    ],
)
def test_values_that_would_be_huge_are_refused_before_they_are_built(source):
    with pytest.raises(TemplateLimitError, match="over the limit"):
        _render(source, x="x", n=10**9)


def test_the_time_limit_reads_the_given_clock():
    ticks = itertools.count()
    limits = RenderLimits(max_seconds=5.0, clock=lambda: float(next(ticks)))  # one second per reading
    with pytest.raises(TemplateLimitError, match="longer than 5 s"):
        _render("{% for i in range(100000) %}{% endfor %}", limits)


def test_limits_are_per_render_and_concurrent_renders_do_not_share_a_budget():
    limits = RenderLimits(max_steps=3_000, max_seconds=None)
    parsed = parse_template("{% for i in range(1000) %}{{ i }}{% endfor %}")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                render(parsed, {}, limits=limits)
        except BaseException as exc:  # any failure is the test's failure
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_ordinary_templates_render_as_before():
    source = (
        "{% for ex in examples %}Q: {{ ex.q }}\nA: {{ ex.a }}\n{% endfor %}"
        "{{ q | trim | upper }} {{ '%s-%d' | format('a', 2) }} {{ 'ab' ~ 'cd' }} {{ 2 ** 10 }} {{ xs | sum }}"
    )
    out = _render(source, examples=[{"q": "1+1", "a": "2"}], q=" hi ", xs=[1, 2, 3])
    assert out == "Q: 1+1\nA: 2\nHI a-2 abcd 1024 6"


# --- refused at registration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ (9**(9**8)) % 2 }}", "constant expression too large: 9 \\*\\* 43046721"),
        ('{{ "x" * 10**9 }}', "constant expression too large"),
        ("{{ x.__class__ }}", "unsafe attribute access '__class__'"),
        ("{{ x['__globals__'] }}", "unsafe attribute access '__globals__'"),
        ("{{ g.gi_frame }}", "unsafe attribute access 'gi_frame'"),
        ("{{ x | attr('__dict__') }}", "unsafe attribute access '__dict__'"),
        ("{{ range(10**6) | list }}", "range of 1,000,000 items"),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "nested loops of 10,000,000,000 iterations",
        ),
        ('{% include "other" %}', "include of another template"),
        ('{% extends "base" %}', "extends of another template"),
    ],
)
def test_templates_that_can_never_render_safely_are_refused_with_the_reason(source, reason):
    with pytest.raises(TemplateUnsafeError, match=reason):
        vet_template(parse_template(source))


def test_every_problem_is_listed_and_chat_messages_are_named():
    parsed = parse_template(
        [
            {"role": "system", "content": "{{ a.__class__ }}"},
            {"role": "user", "content": "{{ 9 ** (9 ** 9) }} {{ range(10**7) }}"},
        ]
    )
    with pytest.raises(TemplateUnsafeError) as info:
        vet_template(parsed)
    message = str(info.value)
    assert "message 0, line 1: unsafe attribute access" in message
    assert "message 1, line 1: range of 10,000,000 items" in message
    assert "message 1, line 1: constant expression too large" in message


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(1000) %}{% for j in range(100) %}{{ i * j }}{% endfor %}{% endfor %}",
        "{{ 2 ** 100 }} {{ 'ab' * 3 }} {{ x.upper() }} {{ 10 // 3 }}",
        "{% for m in messages %}{{ m.role }}: {{ m['content'] }}{% endfor %}",
        "{{ 1 / 0 }}",  # fails on every call, but it is an error of the template, not a danger
    ],
)
def test_safe_templates_pass_the_vetting(source):
    vet_template(parse_template(source))


def test_parsing_a_template_with_a_huge_constant_returns_at_once():
    """Jinja folds constants while generating code (variable discovery runs it): with the arithmetic
    intercepted, ``9 ** (9 ** 8)`` is never computed, so parsing returns (it hung before)."""
    parsed = parse_template("{{ (9**(9**8)) % 2 }}")
    assert parsed.variables == ()


def test_deeply_nested_expressions_are_a_syntax_error_not_a_recursion_error():
    with pytest.raises(TemplateError, match="nested too deeply|syntax error"):
        parse_template("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}")


@pytest.mark.parametrize(
    ("source", "reason"), [("a\x00b {{ x }}", "NUL character"), ("a\ud800", "lone surrogate")]
)
def test_a_template_no_store_can_hold_is_refused_when_parsed(source, reason):
    with pytest.raises(TemplateError, match=reason):
        parse_template(source)
    with pytest.raises(TemplateError, match=f"message 0 \\(user\\) contains a {reason}"):
        parse_template([{"role": "user", "content": source}])


@pytest.mark.parametrize("source", ['{{ "x" ~ 1.mro }}', '{{ "x" ~ 1.__class__ }}'])
def test_a_constant_part_that_always_fails_is_a_template_error_when_parsed(source):
    """Jinja evaluates constant concatenations while discovering variables; one that fails is refused."""
    with pytest.raises(TemplateError, match="always fails"):
        parse_template(source)
