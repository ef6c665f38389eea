"""The hostile-input corpus, end to end on each database: templates registered and run through the SDK
with hostile variables and hostile model outputs. Every template is refused at registration with a
reason, or every call of it answers (``ok``, ``fallback`` or ``error``) without raising; every execution
id handed back names a readable row, and the recorder rejects nothing. RELIABILITY.md quotes the counts.

(Hostile files on the command line: ``tests/cli/test_hostile_files_cli.py``; over HTTP:
``tests/api/test_api_hostile.py``; generated templates: ``tests/templates/test_fuzz.py``.)
"""

from __future__ import annotations

import math
from collections import Counter

from promptevolve.client import PromptOptimizer
from promptevolve.core.errors import PromptevolveError, TemplateUnsafeError
from promptevolve.core.settings import Settings
from promptevolve.core.types import ModelSettings
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.registry import Registry, VariantCreate
from promptevolve.tracking.executions import get_execution

SCRIPTED = ModelSettings(provider="scripted")

#: (template, expected): "refused" at registration, or "runs" (each call answers without raising).
TEMPLATES: list[tuple[str, str]] = [
    ("{{ (9**(9**8)) % 2 }}", "refused"),
    ("{{ 9 ** 9 ** 9 ** 9 ** 9 }}", "refused"),
    ('{{ "x" * 10**9 }}', "refused"),
    ("{{ x.__class__.__mro__[1].__subclasses__() }}", "refused"),
    ("{{ x.__init__.__globals__ }}", "refused"),
    ("{{ x['__class__'] }}", "refused"),
    ("{{ cycler.__init__.__globals__.os }}", "refused"),
    ("{{ (lipsum|attr('__globals__')) }}", "refused"),
    ("{{ lipsum | attr(name) }}", "runs"),  # a name only known at render: the sandbox refuses it per call
    ("{{ range.__self__ }}", "refused"),
    ("{{ g.gi_frame.f_globals }}", "refused"),
    ("{{ range(10**6) | list }}", "refused"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "refused"),
    ('{% include "/etc/passwd" %}', "refused"),
    ('{% extends "base.txt" %}', "refused"),
    ('{% import "m" as m %}', "refused"),
    ("Hi \x00 {{ x }}", "refused"),
    ("Hi \ud800 {{ x }}", "refused"),
    ("{{ 1 / 0 }}", "runs"),
    ("{{ x + 1 }}", "runs"),
    ("{{ 2.0 ** 10000 }}", "runs"),
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "runs"),
    ("{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(30) }}", "runs"),
    ("{% for i in xs %}{% for j in xs %}{{ i }}{% endfor %}{% endfor %}", "runs"),
    ('{{ "x" | center(10**9) }}', "runs"),
    ("{{ x.ljust(10**9) }}", "runs"),
    ('{{ "{:>999999999}".format(1) }}', "runs"),
    ('{{ "%999999999s" | format(1) }}', "runs"),
    ("{{ lipsum(100000) }}", "runs"),
    (
        '{% set ns = namespace(s="x") %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}',
        "runs",
    ),
    ("{% for i in range(100000) %}{{ range(100000) | sum }}{% endfor %}", "runs"),
    ("{{ xs | batch(10**9, 0) | list }}", "runs"),
    ("{{ x | replace('', x * 1000) }}", "runs"),
    ("{{ x }} and {{ xs | join(', ') }}", "runs"),
]

#: Variables a caller may pass, whatever the template.
VARIABLES: list[dict[str, object]] = [
    {"x": "plain", "xs": list(range(3000))},
    {"x": "nul\x00", "xs": ["\x00"]},
    {"x": "\ud800 lone", "xs": ["\udfff"]},
    {"x": math.nan, "xs": [math.inf]},
    {"x": 10**5000, "xs": []},
    {"x": "a" * 100_000, "xs": [{"k": "v" * 1000}] * 100},
]


def _deep(n: int) -> object:
    value: object = 1
    for _ in range(n):
        value = [value]
    return value


VARIABLES.append({"x": "deep", "xs": _deep(5000)})

#: What a model may answer.
OUTPUTS = ["fine", "nul\x00", "\x00" * 100, "lone \ud800", "\udc80\x00mixed é 😀"]


def test_the_hostile_corpus_is_refused_or_answered_and_every_record_is_readable(store):
    registry = Registry(store, actor="corpus")
    outputs = iter(OUTPUTS * 10_000)
    provider = ScriptedProvider(lambda prompt, settings: next(outputs))
    outcomes: Counter[str] = Counter()
    ids: list[str] = []
    with PromptOptimizer(
        store, settings=Settings(database_url=store.url), providers={"scripted": provider}
    ) as po:
        for n, (template, expected) in enumerate(TEMPLATES):
            name = f"hostile_{n}"
            try:
                registry.register(VariantCreate(prompt=name, template=template, settings=SCRIPTED))
            except TemplateUnsafeError as exc:
                assert expected == "refused", (template, str(exc))
                assert "template refused:" in str(exc)
                outcomes["refused at registration (unsafe)"] += 1
                continue
            except PromptevolveError as exc:
                assert expected == "refused", (template, str(exc))
                outcomes["refused at registration (not storable)"] += 1
                continue
            assert expected == "runs", template
            registry.activate(name, "1.0.0")
            for variables in VARIABLES:
                result = po.run(name, variables, unit_id="unit\ud800")  # never raises
                outcomes[f"run {result.status}"] += 1
                if result.status == "error":
                    assert result.error
                else:
                    ids.append(result.execution_id)
        assert po.flush(60)
        assert po.recorder.stats.rejected == 0 and po.recorder.stats.dropped == 0
    for execution_id in ids:
        stored = get_execution(store, execution_id)
        assert stored.output is None or "\x00" not in stored.output
    assert sum(outcomes.values()) == sum(1 if e == "refused" else len(VARIABLES) for _, e in TEMPLATES), (
        outcomes
    )
    print(f"\nhostile corpus on {store.engine.dialect.name}: {dict(outcomes)}; {len(ids)} records read back")
