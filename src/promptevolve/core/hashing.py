"""Stable hashes of content and identifiers.

Content hashes decide whether a registration is new; unit hashes keep raw user ids out of the store.
Both must be identical across processes, machines and Python versions, so they use SHA-256 over a
canonical JSON encoding, never Python's ``hash()``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["canonical_json", "sha256_hex"]


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
