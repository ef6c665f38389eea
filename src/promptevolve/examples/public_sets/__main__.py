"""``python -m promptevolve.examples.public_sets [template NAME]``: list the bundled sets or print a template.

The template is printed bare so that it can be passed to ``promptevolve prompt add NAME --template
"$(python -m promptevolve.examples.public_sets template NAME)"``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter

from promptevolve.core.errors import ValidationError
from promptevolve.examples.public_sets import PUBLIC_SETS, public_set


def _listing() -> str:
    lines = []
    for s in PUBLIC_SETS.values():
        text = s.path.read_text(encoding="utf-8")
        counts = Counter(json.loads(line)["split"] for line in text.splitlines())
        sizes = ", ".join(f"{k} {counts[k]}" for k in ("train", "validation", "test"))
        lines.append(f"{s.name}: {s.description}\n  labels {', '.join(s.labels)}; {sizes}; {s.license}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print(_listing())
        return 0
    if len(argv) == 2 and argv[0] == "template":
        try:
            print(public_set(argv[1]).template)
        except ValidationError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    print("usage: python -m promptevolve.examples.public_sets [template NAME]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
