"""The SDK where users look for it: ``from promptevolve import PromptOptimizer``, and a light import."""

from __future__ import annotations

import subprocess
import sys

import promptevolve


def test_every_top_level_name_resolves_to_the_object_of_its_module() -> None:
    from promptevolve.client import AsyncPromptOptimizer, PromptOptimizer
    from promptevolve.registry.service import Registry

    assert promptevolve.PromptOptimizer is PromptOptimizer
    assert promptevolve.AsyncPromptOptimizer is AsyncPromptOptimizer
    assert promptevolve.Registry is Registry
    for name in promptevolve.__all__:
        assert getattr(promptevolve, name) is not None
    assert set(promptevolve.__all__) == {"__version__", *promptevolve._EXPORTS}
    assert set(promptevolve.__all__) <= set(dir(promptevolve))


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    try:
        promptevolve.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_importing_the_package_loads_no_database_or_model_library() -> None:
    heavy = "('sqlalchemy', 'xllamacpp', 'openai', 'fastapi', 'numpy')"
    code = f"import sys, promptevolve; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert out.strip() == "[]"


def test_the_readme_import_works_in_a_fresh_interpreter() -> None:
    code = "from promptevolve import PromptOptimizer, AsyncPromptOptimizer; print(PromptOptimizer.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert out.strip() == "PromptOptimizer"
