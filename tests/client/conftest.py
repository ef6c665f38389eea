from __future__ import annotations

import pytest
from tests.client.support import GREETING

from promptevolve.client import PromptOptimizer
from promptevolve.core.settings import Settings
from promptevolve.core.types import ModelSettings
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.registry import Registry, VariantCreate


@pytest.fixture
def registry(store):
    registry = Registry(store, actor="test")
    registry.register(
        VariantCreate(prompt="greet", template=GREETING, settings=ModelSettings(provider="scripted"))
    )
    registry.activate("greet", "1.0.0")
    return registry


@pytest.fixture
def scripted():
    return ScriptedProvider(lambda prompt, settings: f"reply to: {prompt.as_messages()[-1]['content']}")


@pytest.fixture
def optimizer(store, registry, scripted):
    po = PromptOptimizer(
        store,
        settings=Settings(database_url=store.url),
        providers={"scripted": scripted},
        default_provider="scripted",
    )
    yield po
    po.close()
