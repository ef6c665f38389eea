"""The SDK's fast constructors build exactly the objects the ordinary constructors build."""

from __future__ import annotations

import pickle

from promptevolve.client.call import Attempt
from promptevolve.client.results import PromptHandle, RunResult, built_run_result, handle_for
from promptevolve.core.types import ModelSettings
from promptevolve.templates import parse_template

RESULT = {
    "status": "ok",
    "text": "hi",
    "parsed": {"a": 1},
    "parse_error": None,
    "prompt": "greet",
    "version": "1.0.0",
    "variant_id": 3,
    "experiment_id": None,
    "arm": None,
    "execution_id": "0" * 32,
    "model": "m",
    "latency_ms": 1.5,
    "prompt_tokens": 7,
    "completion_tokens": 2,
    "cost_usd": 0.0,
    "is_fallback": False,
    "fallback_reason": None,
    "error": None,
    "unexpected_variables": ["x"],
}


def test_a_built_run_result_is_the_model_construct_one() -> None:
    built, constructed = built_run_result(**RESULT), RunResult.model_construct(**RESULT)
    assert built == constructed and type(built) is RunResult
    assert built.model_fields_set == constructed.model_fields_set
    assert built.model_dump() == constructed.model_dump()
    assert built.model_dump_json() == constructed.model_dump_json()
    assert repr(built) == repr(constructed)
    assert pickle.loads(pickle.dumps(built)) == built
    assert built.model_copy(update={"text": "x"}).text == "x"


def test_a_run_result_missing_a_field_falls_back_to_model_construct() -> None:
    partial = {k: v for k, v in RESULT.items() if k != "error"}
    built = built_run_result(**partial)
    assert built == RunResult.model_construct(**partial) and built.error is None
    assert "error" not in built.model_fields_set


def test_a_handle_for_an_attempt_is_the_constructed_one_and_stays_frozen() -> None:
    template, settings = parse_template("Hi {{ who }}"), ModelSettings()
    attempt = Attempt(template, settings, "1.0.0", 3, 7, "b", "variant_failed", prompt_id=11)
    values = {
        "prompt": "greet",
        "version": "1.0.0",
        "variant_id": 3,
        "template": template,
        "settings": settings,
        "experiment_id": 7,
        "arm": "b",
        "unit_id": "u",
        "is_fallback": True,
        "fallback_reason": "variant_failed",
        "prompt_id": 11,
    }
    built = handle_for("greet", attempt, "u")
    assert built == PromptHandle(**values) and repr(built) == repr(PromptHandle(**values))
    assert hash(built.template) == hash(values["template"])
    assert built.messages({"who": "Ada"}) == [{"role": "user", "content": "Hi Ada"}]
    try:
        built.unit_id = "other"  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("a built handle must stay frozen")
