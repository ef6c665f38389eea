from __future__ import annotations

import json
from importlib.resources import files

from promptevolve.examples.lead_enrichment.taxonomy import GROWTH_SIGNALS, INDUSTRIES, SIZE_BANDS
from promptevolve.registry import BASELINE_NAMES, Registry, install_baselines, load_baselines
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


def test_example_answer_in_each_baseline_is_valid_json_with_the_expected_keys():
    folder = files("promptevolve.registry") / "baselines"
    for name in BASELINE_NAMES:
        system = json.loads((folder / f"{name}.json").read_text())["template"][0]["content"]
        example = json.loads(system[system.rindex('{"industry"') :])
        assert set(example) == {"industry", "size_band", "ai_maturity", "growth_signals", "recommended_pitch"}
        assert example["industry"] in INDUSTRIES and example["size_band"] in SIZE_BANDS


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
