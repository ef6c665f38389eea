"""What callers and models hand the SDK that the store or the template cannot take as it is: the SDK
answers, never raises (unless strict), and every execution id it hands back names a readable row."""

from __future__ import annotations

import asyncio
import math
import threading

import pytest

from promptevolve.client import AsyncPromptOptimizer, PromptOptimizer
from promptevolve.core.errors import TemplateError, ValidationError
from promptevolve.core.settings import Settings
from promptevolve.core.types import ModelSettings
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.registry import Registry, VariantCreate
from promptevolve.tracking.executions import get_execution

SCRIPTED = ModelSettings(provider="scripted")


class _Opaque:
    def __str__(self) -> str:
        return "opaque\x00value"


def _deep(n: int) -> object:
    value: object = "bottom"
    for _ in range(n):
        value = {"d": value}
    return value


def _cycle() -> list[object]:
    loop: list[object] = ["x"]
    loop.append(loop)
    return loop


# Outputs a model may produce: a NUL (PostgreSQL's COPY refuses 0x00), lone surrogates (not UTF-8).
HOSTILE_OUTPUTS = ["nul\x00inside", "\x00", "lone \ud800 high", "lone \udfff low", "mixed \x00 \udc80 é 😀"]

# Variables a caller may pass: the same, plus what JSON cannot hold as it is.
HOSTILE_VARIABLES = [
    {"x": "nul\x00"},
    {"x": "\ud800"},
    {"x\x00key": "v", "x": 1},
    {"x": math.nan, "y": math.inf},
    {"x": 10**5000},
    {"x": _deep(5000)},
    {"x": _cycle()},
    {"x": _Opaque()},
    {"x": {1: "int key", (2, 3): "tuple key"}},
    {"x": b"bytes\x00"},
]


@pytest.fixture
def echo():
    """A model whose answer carries what it was given, and a NUL."""
    return ScriptedProvider(lambda prompt, settings: f"echo\x00{prompt.as_messages()[-1]['content']}")


def _optimizer(store, provider, **kwargs):
    return PromptOptimizer(
        store, settings=Settings(database_url=store.url), providers={"scripted": provider}, **kwargs
    )


def _register(store, template, prompt="p"):
    registry = Registry(store, actor="test")
    registry.register(VariantCreate(prompt=prompt, template=template, settings=SCRIPTED))
    registry.activate(prompt, "1.0.0")


@pytest.mark.parametrize("output", HOSTILE_OUTPUTS)
def test_every_output_the_sdk_acknowledges_is_readable_afterwards(store, output):
    _register(store, "Say {{ x }}")
    with _optimizer(store, ScriptedProvider(lambda prompt, settings: output)) as po:
        result = po.run("p", {"x": "hi"})
        assert result.status == "ok" and result.text == output  # the caller gets the model's answer as is
        assert po.flush(30)
        assert po.recorder.stats.rejected == 0
        stored = get_execution(store, result.execution_id)
    assert "\x00" not in stored.output
    stored.output.encode("utf-8")  # storable text: no lone surrogates left
    assert stored.repairs and stored.repairs.startswith("output: ")


@pytest.mark.parametrize("variables", HOSTILE_VARIABLES, ids=range(len(HOSTILE_VARIABLES)))
def test_every_variable_the_sdk_acknowledges_is_stored_and_readable(store, echo, variables):
    _register(store, "Say {{ x }}")
    with _optimizer(store, echo) as po:
        result = po.run("p", variables, unit_id="unit\ud800")
        assert po.flush(30)
        assert po.recorder.stats.rejected == 0
    if result.execution_id is not None:  # answered: its record is readable
        assert get_execution(store, result.execution_id).variables is not None
    else:  # the variable cannot be rendered (10**5000): an error result, and the failed attempt recorded
        assert result.status == "error"
    recorded = _executions(store)
    assert recorded and all(e.repairs for e in recorded)  # each record says what was changed


def test_feedback_on_a_repaired_execution_lands(store):
    _register(store, "Say {{ x }}")
    with _optimizer(store, ScriptedProvider(lambda prompt, settings: "a\x00b")) as po:
        result = po.run("p", {"x": "\ud800"})
        ids = po.feedback(result.execution_id, thumbs=True)
    assert len(ids) == 1
    assert [f.kind for f in get_execution(store, result.execution_id).feedback] == ["thumbs"]


@pytest.mark.parametrize(
    "text",
    [{"comment": "nul\x00"}, {"correction": "gold\x00"}, {"comment": "\ud800"}, {"created_by": "a\x00"}],
    ids=["comment-nul", "correction-nul", "comment-surrogate", "created-by-nul"],
)
def test_sdk_feedback_with_unstorable_text_raises_validation_error_and_stores_nothing(store, text):
    _register(store, "Say {{ x }}")
    with _optimizer(store, ScriptedProvider(lambda prompt, settings: "ok")) as po:
        result = po.run("p", {"x": "a"})
        po.flush()
        with pytest.raises(ValidationError, match="invalid feedback: (comment|correction|created_by): "):
            po.feedback(result.execution_id, thumbs=True, **text)
    assert get_execution(store, result.execution_id).feedback == []


def test_ordinary_records_are_stored_unchanged(store):
    _register(store, "Say {{ x }}")
    with _optimizer(store, ScriptedProvider(lambda prompt, settings: "plain é 😀")) as po:
        result = po.run("p", {"x": "é", "n": [1, 2.5, None, True]})
        po.flush(30)
        stored = get_execution(store, result.execution_id)
    assert stored.output == "plain é 😀"
    assert stored.variables == {"x": "é", "n": [1, 2.5, None, True]}
    assert stored.repairs is None


# --- template and variable failures never raise -------------------------------------------------------

FAILING = [
    ("{{ 1 / x }}", {"x": 0}, "ZeroDivisionError"),
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(x) }}", {"x": 1}, "nested deeper"),
    ("{{ x + 1 }}", {"x": "a"}, "TypeError"),
    ("{{ 2.0 ** x }}", {"x": 10000}, "OverflowError"),
    ("{{ x ** x }}", {"x": 10**6}, "over the limit"),
    (
        "{% for i in x %}{% for j in x %}{% endfor %}{% endfor %}",
        {"x": list(range(5000))},
        "rendering stopped",
    ),  # steps, or time under load
    ("{{ x }}", {"x": 10**5000}, "cannot be written as text"),
]


@pytest.mark.parametrize(("template", "variables", "reason"), FAILING, ids=[f[2] for f in FAILING])
def test_run_answers_an_error_result_for_every_template_or_variable_failure(
    store, echo, template, variables, reason
):
    _register(store, template)
    with _optimizer(store, echo) as po:
        result = po.run("p", variables)
        assert result.status == "error" and result.text is None
        assert reason in result.error
        # strict: the same failure is raised, as a TemplateError
        with pytest.raises(TemplateError, match=reason):
            po.run("p", variables, strict=True)
        po.flush(30)
        assert po.recorder.stats.rejected == 0


@pytest.mark.parametrize(("template", "variables", "reason"), FAILING[:3], ids=[f[2] for f in FAILING[:3]])
def test_a_failing_template_falls_back_to_the_callers_prompt(store, echo, template, variables, reason):
    _register(store, template)
    with _optimizer(store, echo) as po:
        result = po.run("p", variables, fallback="Plain {{ x }}", fallback_settings=SCRIPTED)
        assert result.status == "fallback" and result.text.startswith("echo")
        po.flush(30)
        failed = [e for e in _executions(store) if e.status == "error"]
        assert failed and failed[0].fallback_reason == "render_error"


def test_the_async_sdk_answers_the_same_failures_without_raising(store, echo):
    _register(store, "{{ 1 / x }}")
    po = AsyncPromptOptimizer(_optimizer(store, echo))

    async def go():
        result = await po.run("p", {"x": 0})
        with pytest.raises(TemplateError, match="ZeroDivisionError"):
            await po.run("p", {"x": 0}, strict=True)
        await po.aclose()
        return result

    result = asyncio.run(go())
    assert result.status == "error" and "ZeroDivisionError" in result.error


def _executions(store):
    from promptevolve.tracking.executions import ExecutionFilter, list_executions

    return list_executions(store, ExecutionFilter(limit=100))


def test_the_async_sdk_renders_templates_with_logic_off_the_event_loop(store, echo):
    """A render may take up to its time limit: the event loop (a server's other requests, its health
    checks) must not wait for it. Plain ``{{ name }}`` templates stay on the loop (microseconds)."""
    seen: dict[str, str] = {}

    class Spy:
        def __init__(self, key: str) -> None:
            self.key = key

        def __str__(self) -> str:
            seen.setdefault(self.key, threading.current_thread().name)  # the render; recording comes after
            return "spy"

    _register(store, "{% for i in range(2) %}{{ x | string }}{% endfor %}", prompt="logic")
    _register(store, "Plain {{ x }}", prompt="plain")
    po = AsyncPromptOptimizer(_optimizer(store, echo))

    async def go() -> str:
        await po.run("logic", {"x": Spy("logic")})
        await po.run("plain", {"x": Spy("plain")})
        await po.aclose()
        return threading.current_thread().name

    loop_thread = asyncio.run(go())
    assert seen["logic"] != loop_thread
    assert seen["plain"] == loop_thread
