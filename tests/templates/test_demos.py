import numpy as np
import pytest

from promptevolve.core.errors import TemplateError
from promptevolve.core.types import ModelSettings
from promptevolve.templates import MARKER, DemoRetriever, RetrievalSpec, parse_template, render
from promptevolve.templates.demos import Bm25Index, PoolDemo

POOL = (
    PoolDemo("a", "the cat sat on the mat", "Text: the cat sat on the mat", "animal"),
    PoolDemo("b", "stocks fell on the market", "Text: stocks fell on the market", "finance"),
    PoolDemo("c", "a dog chased the cat", "Text: a dog chased the cat", "animal"),
    PoolDemo("d", "bond yields and stocks", "Text: bond yields and stocks", "finance"),
)


def settings(k=2, index="bm25", form="completion", **extra) -> ModelSettings:
    spec = RetrievalSpec(k, index, form, "Answer:", POOL)
    return ModelSettings(max_tokens=8, retrieval=spec.to_setting(), **extra)


TEXT = parse_template("Classify the topic.\n\n" + MARKER + "Text: {{ text }}\nAnswer:")


def test_the_nearest_demos_go_before_the_query_nearest_last():
    out = DemoRetriever().render(TEXT, settings(), {"text": "the cat with a dog"}).prompt.text
    assert out.startswith("Classify the topic.\n\nText: the cat sat on the mat\nAnswer: animal\n\n")
    assert out.endswith("Text: a dog chased the cat\nAnswer: animal\n\nText: the cat with a dog\nAnswer:")
    assert "stocks" not in out


def test_without_the_retriever_the_template_is_the_zero_shot_prompt():
    plain = render(TEXT, {"text": "x"}).prompt.text
    assert plain == "Classify the topic.\n\nText: x\nAnswer:"
    assert DemoRetriever().render(TEXT, ModelSettings(), {"text": "x"}).prompt.text == plain


def test_an_item_never_sees_itself_and_the_pool_stays_out_of_provider_settings():
    retriever = DemoRetriever()
    picked = retriever.pick(settings(k=1), {"text": "a cat sat"}, exclude=("a",))
    assert [d.key for d in picked] == ["c"]
    bare = retriever.provider_settings(settings(seed=3, choices=["animal", "finance"]))
    assert "retrieval" not in bare.extra_params() and bare.extra_params()["choices"] == ["animal", "finance"]
    assert bare.max_tokens == 8 and bare.seed == 3


def test_chat_templates_get_the_demos_as_turns_before_the_marked_message():
    chat = parse_template(
        [{"role": "system", "content": "Topic?"}, {"role": "user", "content": MARKER + "{{ text }}"}]
    )
    prompt = DemoRetriever().render(chat, settings(k=1, form="chat"), {"text": "stocks"}).prompt
    assert [m.role for m in prompt.messages] == ["system", "user", "assistant", "user"]
    assert prompt.messages[2].content in ("finance",) and prompt.messages[3].content == "stocks"


def test_demo_text_is_inserted_after_rendering_so_data_cannot_run_as_template_code():
    trap = (PoolDemo("t", "cat", "{{ secret }}", "{% if x %}animal{% endif %}"), *POOL)
    spec = RetrievalSpec(1, "bm25", "completion", "Answer:", trap)
    out = (
        DemoRetriever().render(TEXT, ModelSettings(retrieval=spec.to_setting()), {"text": "cat"}).prompt.text
    )
    assert "{{ secret }}\nAnswer: {% if x %}animal{% endif %}" in out


class CountingEncoder:
    """Bag-of-letters vectors: deterministic, and counts how often it is asked."""

    def __init__(self):
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        return np.array([[t.count(c) for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts], dtype=float)


def test_an_embedding_index_encodes_the_pool_once_per_variant_and_the_query_per_call():
    encoder = CountingEncoder()
    retriever = DemoRetriever(encoder=lambda: encoder)
    spec = settings(k=1, index="minilm")
    for text in ("stocks and bonds", "cats"):
        retriever.pick(spec, {"text": text})
    assert encoder.calls == 3  # the pool once, then one query per call
    reloaded = settings(k=1, index="minilm")  # a plan reloaded from the store: same content, new object
    retriever.pick(reloaded, {"text": "dogs"})
    assert encoder.calls == 4  # the pool was not encoded again


def test_a_minilm_variant_without_an_encoder_fails_to_render_with_the_cause():
    with pytest.raises(TemplateError, match="no encoder"):
        DemoRetriever().render(TEXT, settings(index="minilm"), {"text": "x"})
    with pytest.raises(TemplateError, match="bad 'retrieval' setting"):
        DemoRetriever().render(TEXT, ModelSettings(retrieval={"k": 2}), {"text": "x"})


def test_bm25_ranks_rare_shared_words_above_common_ones():
    index = Bm25Index([d.text for d in POOL])
    scores = index.scores("yields")
    assert int(np.argmax(scores)) == 3 and scores[0] == 0.0
    assert index.scores("the")[1] < index.scores("dog")[2]
