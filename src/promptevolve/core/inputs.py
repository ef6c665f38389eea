"""Reading what people hand us in files: decoded and parsed with errors that name the problem.

Every command and importer that reads a file (templates, variables, datasets, feedback) goes through
these two functions, so a file that is not UTF-8, JSON that is not standard, a number too long to read
or nesting too deep to process is a ``ValidationError`` saying which file, where and what to do —
which the CLI prints as ``error: …`` with exit code 2 — never a traceback:

- ``read_text_file``: the file must exist and be UTF-8 (a BOM is dropped); the error names the first
  bad byte with its line and column;
- ``parse_json``: standard JSON only (``NaN`` and ``Infinity`` are refused), integers of at most
  4,300 digits (Python's own limit, named instead of the interpreter's hint), and at most
  ``MAX_JSON_DEPTH`` levels of nesting (deeper data crashes the code that later walks it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from promptevolve.core.errors import ValidationError

__all__ = ["MAX_JSON_DEPTH", "parse_json", "read_text_file"]

MAX_JSON_DEPTH = 100


def read_text_file(path: Path, what: str) -> str:
    """The text of ``path``, decoded as UTF-8; ``what`` names the file in errors ("dataset file")."""
    if not path.is_file():
        raise ValidationError(f"{what} {str(path)!r} does not exist")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"{what} {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise ValidationError(
            f"{what} {str(path)!r} is not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, "
            f"column {column}; save it as UTF-8"
        ) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not standard JSON")


def parse_json(text: str, what: str) -> Any:
    """``text`` parsed as standard JSON; ``what`` names it in errors ("variables file x.json")."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise ValidationError(f"{what}: JSON nested more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError as exc:
        if "digits" in str(exc):
            limit = sys.get_int_max_str_digits()
            raise ValidationError(f"{what}: a number with more than {limit:,} digits") from None
        raise ValidationError(f"{what}: {exc}") from None
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise ValidationError(f"{what}: JSON nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` levels (iterative: no recursion on hostile data)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
