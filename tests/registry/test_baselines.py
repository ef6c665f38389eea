from __future__ import annotations

from promptevolve.examples.lead_enrichment.baselines import install_baselines, load_baselines
from promptevolve.examples.lead_enrichment.taxonomy import GROWTH_SIGNALS, INDUSTRIES, SIZE_BANDS
from promptevolve.registry import Registry
from promptevolve.templates import parse_template, render

LEAD = {
    "company_name": "Brightpath Freight",
    "website": "brightpathfreight.com",
    "country": "US",
    "description": "A 40-person trucking broker in Ohio that just opened a second office.",
}


def test_baselines_quote_every_allowed_value_of_the_taxonomy():
    for request in load_baselines():
        system = request.template[0]["content"]
        for value in (*INDUSTRIES, *GROWTH_SIGNALS):
            assert value in system, f"{request.prompt} does not list {value}"
        for band in SIZE_BANDS:
            assert f'"{band}"' in system


def test_baselines_render_a_lead_in_their_language():
    en, fr = load_baselines()
    assert en.template[0]["content"].startswith("You are an AI growth analyst")
    assert fr.template[0]["content"].startswith("Vous êtes un analyste de croissance IA")
    for request in (en, fr):
        prompt = render(parse_template(request.template), LEAD).prompt
        assert "Brightpath Freight" in prompt.as_messages()[1]["content"]
        assert request.settings.response_format == "json" and request.version == "1.0.0"


def test_each_baseline_enforces_the_taxonomy_with_a_json_schema_and_shows_no_example_to_copy():
    keys = {"industry", "size_band", "ai_maturity", "growth_signals", "recommended_pitch"}
    for request in load_baselines():
        schema = request.settings.extra_params()["json_schema"]
        fields = schema["properties"]
        assert set(fields) == set(schema["required"]) == keys and schema["additionalProperties"] is False
        assert fields["industry"]["enum"] == list(INDUSTRIES)
        assert fields["size_band"]["enum"] == list(SIZE_BANDS)
        assert fields["growth_signals"]["items"]["enum"] == list(GROWTH_SIGNALS)
        assert fields["ai_maturity"]["enum"] == [1, 2, 3, 4, 5]
        assert fields["recommended_pitch"]["maxLength"] <= 300, "a bounded pitch ends inside max_tokens"
        system = request.template[0]["content"]
        assert all(f'"{key}"' in system for key in keys), "the prompt explains every key"
        assert '{"industry"' not in system, "a tiny model copies an example answer's values"


def test_install_is_idempotent_and_keeps_later_activations(store):
    registry = Registry(store, actor="t")
    first = install_baselines(registry)
    assert [(v.prompt, v.version, v.active, c) for v, c in first] == [
        ("ai_enrichment_en", "1.0.0", True, True),
        ("ai_enrichment_fr", "1.0.0", True, True),
    ]
    registry.deactivate("ai_enrichment_fr", "1.0.0")
    registry.register(
        load_baselines()[1].model_copy(
            update={
                "template": "Autre {{ company_name }} {{ website }} {{ description }} {{ country }}",
                "version": None,
            }
        )
    )
    registry.activate("ai_enrichment_fr", "1.1.0")
    again = install_baselines(registry)
    assert [c for _, c in again] == [False, False]
    assert registry.get_prompt("ai_enrichment_fr").active == {"1.1.0": 100.0}
