"""Making values storable on both databases before they are acknowledged (pure).

A record the SDK or the API has acknowledged must be readable later, on SQLite as on PostgreSQL. Some
values a model or a caller hands us cannot be stored as they are:

- **NUL characters** (``\\x00``): PostgreSQL text and JSON cannot hold them (COPY fails with "invalid
  byte sequence … 0x00"), so they become U+FFFD (the replacement character);
- **lone surrogates** (``\\ud800``, from broken UTF-16 or JSON ``"\\ud800"``): not encodable as UTF-8 on
  either database, so each becomes the text of its escape (``\\ud800``, six characters);
- **non-finite numbers** (NaN, ±Infinity) in JSON: PostgreSQL's ``json`` refuses them: ``null``;
- **what JSON cannot express** in variables: keys that are not strings become strings, other objects
  their ``str()``, integers too long to write as text, cycles and nesting deeper than ``MAX_DEPTH``
  become a short placeholder naming what was there.

A ``Repairs`` collects what was changed, per field, so the record says so (``executions.repairs``);
values that need nothing are returned as they are, after one check (the common case costs one
``json.dumps`` and, for non-ASCII text, one UTF-8 encode).

Repairing is for the call path only (a model's output, the variables of a ``run``), where the layer must
never be the reason a call fails. Everything else a caller writes (feedback comments and corrections,
descriptions, rationales, settings, dataset items, names, reasons) is *refused* when it holds a NUL or a
lone surrogate: ``why_unstorable`` says why, and ``store.guard`` refuses it on every database alike
(``UnstorableValueError``, the API's 422), so a gold label is never silently changed and what one database
accepts the other accepts too.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from json.encoder import c_encode_basestring, c_make_encoder  # type: ignore[attr-defined]
from typing import Any

from promptevolve.core.errors import UnstorableValueError

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "Repairs",
    "check_storable",
    "refuse_unstorable",
    "storable_json",
    "why_unstorable",
]

#: Nesting deeper than this is replaced by a placeholder (JSON encoders recurse; deeper data crashes them).
MAX_DEPTH = 64
#: A value with more parts than this is cut (guards against shared sub-structures repeated exponentially).
MAX_NODES = 200_000

_REPLACEMENT = "\ufffd"

#: The canonical encoding (sorted keys, compact, not ASCII-escaped, no NaN), made once: ``json.dumps``
#: with options builds an encoder, and its C encoder, on every call (a few µs of each ``run()``). No
#: ``markers``: a cyclic value raises ``RecursionError`` rather than ``ValueError``; both are repaired.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_canonical_chunks = (
    c_make_encoder(None, _CANONICAL.default, c_encode_basestring, None, ":", ",", True, False, False)
    if c_make_encoder is not None and c_encode_basestring is not None
    else None
)


def _canonical(value: Any) -> str:
    if _canonical_chunks is None:  # an interpreter without the C accelerator
        return _CANONICAL.encode(value)
    return "".join(_canonical_chunks(value, 0))


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable_json(value: Any) -> str | None:
    """``value``'s canonical JSON text (sorted keys, no spaces) when every database can store it as it
    is; None when it needs ``Repairs.json`` (a value JSON cannot hold, a NUL, a lone surrogate)."""
    try:
        text = _canonical(value)
    except (TypeError, ValueError, RecursionError):
        return None
    return text if "\\u0000" not in text and _encodable(text) else None


def why_unstorable(text: str) -> str | None:
    """What no database can store in ``text`` as it is, or ``None`` when it can be stored."""
    if "\x00" in text:
        return "a NUL character (\\x00), which PostgreSQL text cannot hold"
    if not _encodable(text):
        return "a lone surrogate, which is not UTF-8"
    return None


def refuse_unstorable(value: str | None) -> str | None:
    """``value`` unchanged, or ``ValueError`` saying what cannot be stored (for pydantic validators)."""
    if value is not None:
        why = why_unstorable(value)
        if why is not None:
            raise ValueError(f"contains {why}: remove it")
    return value


def check_storable(field: str, value: Any) -> None:
    """Raise ``UnstorableValueError`` naming ``field`` if any text in ``value`` (keys and strings of nested
    dicts and lists included) cannot be stored; for values hashed before they reach the store."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            why = why_unstorable(item)
            if why is not None:
                raise UnstorableValueError(f"cannot store {field}: the value contains {why}; remove it")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


class Repairs:
    """What was changed to make a record storable, counted per field and kind."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        # Made on the first repair: most records need none, and a Counter costs a microsecond to make.
        self._counts: Counter[tuple[str, str]] | None = None

    @property
    def counts(self) -> Counter[tuple[str, str]]:
        if self._counts is None:
            self._counts = Counter()
        return self._counts

    def text(self, field: str, value: str | None) -> str | None:
        """``value`` with NUL and lone surrogates made storable (counted under ``field``)."""
        if value is None:
            return None
        if "\x00" in value:
            self.counts[(field, "NUL replaced by U+FFFD")] += value.count("\x00")
            value = value.replace("\x00", _REPLACEMENT)
        if not _encodable(value):
            fixed = value.encode("utf-8", "backslashreplace").decode("utf-8")
            self.counts[(field, "lone surrogates escaped")] += (len(fixed) - len(value)) // 5
            value = fixed
        return value

    def json(self, field: str, value: Any) -> tuple[Any, str]:
        """``value`` made storable as JSON, and its canonical JSON text (sorted keys, no spaces)."""
        text = storable_json(value)
        if text is not None:
            return value, text
        fixed = _Walk(self, field).value(value, 0, ())
        text = json.dumps(fixed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return fixed, text

    def summary(self) -> str | None:
        """One line for the record (``None`` when nothing was changed)."""
        if not self._counts:
            return None
        return "; ".join(f"{field}: {n} {what}" for (field, what), n in sorted(self.counts.items()))


class _Walk:
    """Rebuild a value as storable JSON, bounded in depth and size, without recursion past MAX_DEPTH."""

    def __init__(self, repairs: Repairs, field: str) -> None:
        self.repairs = repairs
        self.field = field
        self.nodes = 0

    def note(self, what: str) -> None:
        self.repairs.counts[(self.field, what)] += 1

    def value(self, v: Any, depth: int, path: tuple[int, ...]) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.note("parts omitted (too large)")
            return "<omitted: too large>"
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, str):
            return self.repairs.text(self.field, v)
        if isinstance(v, int):
            return self.integer(v)
        if isinstance(v, float):
            if math.isfinite(v):
                return v
            self.note("non-finite numbers stored as null")
            return None
        if isinstance(v, dict | list | tuple):
            return self.container(v, depth, path)
        self.note("values stored as their text")
        return self.repairs.text(self.field, _str(v))

    def integer(self, v: int) -> Any:
        try:
            str(v)
        except ValueError:
            self.note("integers too long stored as a placeholder")
            return f"<integer of {v.bit_length()} bits>"
        return v

    def container(
        self, v: dict[Any, Any] | list[Any] | tuple[Any, ...], depth: int, path: tuple[int, ...]
    ) -> Any:
        if id(v) in path:
            self.note("circular references cut")
            return "<circular reference>"
        if depth >= MAX_DEPTH:
            self.note(f"values nested deeper than {MAX_DEPTH} levels cut")
            return f"<nested deeper than {MAX_DEPTH} levels>"
        inner = (*path, id(v))
        if isinstance(v, dict):
            out = {}
            for key, item in v.items():
                if not isinstance(key, str):
                    self.note("keys stored as text")
                    key = _str(key)
                out[self.repairs.text(self.field, key) or ""] = self.value(item, depth + 1, inner)
            return out
        return [self.value(item, depth + 1, inner) for item in v]


def _str(v: Any) -> str:
    try:
        return str(v)
    except Exception:
        return f"<{type(v).__name__}>"
