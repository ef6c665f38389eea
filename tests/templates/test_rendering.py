from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptevolve.core.errors import MissingVariableError, TemplateError, TemplateSyntaxError
from promptevolve.core.types import TemplateKind
from promptevolve.templates import parse_template, render, render_messages


def test_variables_are_found_at_parse_time_including_loops_and_conditions():
    parsed = parse_template(
        "Hi {{ name }}{% if vip %}, VIP{% endif %}{% for x in items %}{{ x }}{% endfor %}"
    )
    assert parsed.variables == ("items", "name", "vip")


def test_chat_variables_are_collected_from_every_message():
    parsed = parse_template(
        [
            {"role": "system", "content": "You write for {{ audience }}."},
            {"role": "user", "content": "Summarise {{ text }} for {{ audience }}"},
        ]
    )
    assert parsed.kind is TemplateKind.CHAT
    assert parsed.variables == ("audience", "text")


def test_syntax_error_is_refused_with_its_line():
    with pytest.raises(TemplateSyntaxError, match="line 2"):
        parse_template("ok\n{% if %}")


def test_syntax_error_in_a_chat_message_names_the_message():
    with pytest.raises(TemplateSyntaxError, match="message 1 \\(user\\)"):
        parse_template([{"role": "system", "content": "fine"}, {"role": "user", "content": "{{ x "}])


@pytest.mark.parametrize(
    "bad",
    [
        [],
        [{"role": "wizard", "content": "x"}],
        [{"role": "user"}],
        [{"role": "user", "content": 3}],
        [{"role": "user", "content": "x", "name": "extra"}],
        "   ",
    ],
)
def test_malformed_templates_are_refused(bad):
    with pytest.raises(TemplateError):
        parse_template(bad)


def test_missing_variables_are_all_named():
    parsed = parse_template("{{ a }} {{ b }} {{ c }}")
    with pytest.raises(MissingVariableError, match="missing template variables: a, c") as info:
        render(parsed, {"b": 1})
    assert info.value.missing == ("a", "c")


def test_extra_variables_are_reported_not_fatal():
    result = render(parse_template("{{ a }}"), {"a": "x", "zz": 1, "b": 2})
    assert result.prompt.text == "x"
    assert result.unexpected_variables == ("b", "zz")


def test_chat_rendering_keeps_roles_and_order():
    parsed = parse_template(
        [{"role": "system", "content": "S {{ a }}"}, {"role": "user", "content": "U {{ b }}"}]
    )
    prompt = render(parsed, {"a": 1, "b": 2}).prompt
    assert prompt.as_messages() == [{"role": "system", "content": "S 1"}, {"role": "user", "content": "U 2"}]


def test_sandbox_refuses_access_to_python_internals():
    parsed = parse_template("{{ x.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateError):
        render(parsed, {"x": ""})


def test_missing_attribute_of_a_given_value_is_a_missing_variable_error():
    with pytest.raises(MissingVariableError, match="has no attribute"):
        render(parse_template("{{ lead.name }}"), {"lead": {}})


@given(
    st.text(
        alphabet=st.characters(blacklist_characters="{}%#\x00", blacklist_categories=("Cs",)), min_size=1
    ).filter(str.strip)
)
def test_text_without_template_syntax_renders_to_itself_with_newlines_normalised(text):
    parsed = parse_template(text)
    assert parsed.variables == ()
    assert render(parsed, {}).prompt.text == text.replace("\r\n", "\n").replace("\r", "\n")


@given(
    st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), st.text(max_size=20), min_size=1)
)
def test_every_declared_variable_value_appears_in_the_output(values):
    source = " | ".join(f"{{{{ {k} }}}}" for k in values)
    out = render(parse_template(source), values).prompt.text
    assert out == " | ".join(values.values())


#: Parts of a plain template (literal text and ``{{ name }}``), and values for its three names.
_PLAIN_PARTS = st.lists(
    st.one_of(
        st.text(
            alphabet=st.characters(blacklist_characters="{}%#\x00", blacklist_categories=("Cs",)),
            max_size=15,
        ),
        st.sampled_from(["{{ a }}", "{{b}}", "{{  c  }}", "{{ a }}\n", "\r\n"]),
    ),
    max_size=8,
)
_VALUES = st.fixed_dictionaries(
    {
        "a": st.one_of(st.text(max_size=5), st.integers(), st.none()),
        "b": st.floats(allow_nan=False),
        "c": st.booleans(),
    }
)


@given(_PLAIN_PARTS, _VALUES)
def test_fast_path_renders_exactly_like_jinja(parts, values):
    from promptevolve.templates.rendering import _compile, _segments

    source = "".join(parts) or "x"
    assert _segments(source) is not None
    fast = render(parse_template(source), values).prompt.text if source.strip() else None
    if fast is not None:
        assert fast == _compile(source).render(values)


def test_templates_with_logic_take_the_jinja_path():
    from promptevolve.templates.rendering import _segments

    assert _segments("{% if a %}x{% endif %}") is None
    assert _segments("{{ a | upper }}") is None
    assert _segments("{{ a.b }}") is None
    assert render(parse_template("{{ a | upper }}!"), {"a": "hi"}).prompt.text == "HI!"


@pytest.mark.parametrize(
    "source",
    [
        "Hello {{ name }}",
        "{% if name %}Hi {{ name | upper }}{% endif %}",
        [{"role": "system", "content": "You help {{ name }}."}, {"role": "user", "content": "{{ q }}"}],
        [{"role": "system", "content": "plain"}, {"role": "user", "content": "{{ q | trim }}!"}],
    ],
)
def test_render_messages_is_render_as_messages(source):
    template = parse_template(source)
    variables = {"name": "Zoë", "q": " why? ", "unused": 1}
    assert render_messages(template, variables) == render(template, variables).prompt.as_messages()


def test_render_messages_refuses_missing_variables_like_render():
    template = parse_template([{"role": "user", "content": "{{ a }} {{ b }}"}])
    with pytest.raises(MissingVariableError) as rendered:
        render(template, {"a": 1})
    with pytest.raises(MissingVariableError) as as_messages:
        render_messages(template, {"a": 1})
    assert str(as_messages.value) == str(rendered.value)


@given(_PLAIN_PARTS.filter(bool), _VALUES)
def test_a_plain_chat_template_joined_once_per_template_renders_exactly_like_jinja(parts, values):
    """Each message of a plain template is joined from segments worked out on its first render (a
    message without variables is rendered once and reused): the same text as Jinja, call after call."""
    from promptevolve.templates.rendering import _compile

    user = "".join(parts)
    template = parse_template(
        [{"role": "system", "content": "Fixed text."}, {"role": "user", "content": user}]
    )
    expected = [
        {"role": "system", "content": "Fixed text."},
        {"role": "user", "content": _compile(user).render(values)},
    ]
    for _ in range(2):  # the second render uses what the first worked out
        assert render_messages(template, dict(values)) == expected
        assert render(template, dict(values)).prompt.as_messages() == expected


def test_a_plain_template_given_a_dict_renders_without_the_checked_path(monkeypatch):
    from promptevolve.templates import rendering

    template = parse_template(
        [{"role": "system", "content": "Help."}, {"role": "user", "content": "Hi {{ who }}"}]
    )

    def checked(*_args, **_kwargs):
        raise AssertionError("the checked path ran for a plain template and a dict")

    monkeypatch.setattr(rendering, "_filled_parts", checked)
    assert render_messages(template, {"who": "Ada"})[1] == {"role": "user", "content": "Hi Ada"}
    result = render(template, {"who": "Ada", "extra": 1})
    assert result.prompt.messages[1].content == "Hi Ada" and result.unexpected_variables == ("extra",)


def test_a_mapping_that_invents_missing_values_still_gets_the_missing_variable_error():
    from collections import defaultdict

    template = parse_template("Hi {{ who }} and {{ other }}")
    variables = defaultdict(lambda: "invented", {"who": "Ada"})
    with pytest.raises(MissingVariableError, match="other"):
        render(template, variables)
    with pytest.raises(MissingVariableError, match="other"):
        render_messages(template, variables)
