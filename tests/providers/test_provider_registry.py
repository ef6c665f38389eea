"""Provider lookup by name: built-ins, and plugins found through real entry points on sys.path."""

from __future__ import annotations

import importlib.metadata
import itertools
from pathlib import Path

import pytest
from tests.providers.provider_prompts import CAPITAL_QUESTION

from promptevolve.core.errors import ConfigurationError
from promptevolve.core.types import ModelSettings
from promptevolve.providers.local import LocalProvider
from promptevolve.providers.openai_compat import OpenAICompatProvider
from promptevolve.providers.registry import (
    BUILTIN_PROVIDERS,
    ENTRY_POINT_GROUP,
    available_providers,
    create_provider,
)
from promptevolve.providers.scripted import ScriptedProvider

_plugin_numbers = itertools.count()

PLUGIN_SOURCE = """
class EchoProvider:
    name = "echo"

    def __init__(self, prefix="echo: "):
        self.prefix = prefix

    def complete(self, prompt, settings):
        from promptevolve.core.types import Completion
        return Completion(self.prefix + prompt.as_text(), 0, 0, 0.0, settings.model)

    async def acomplete(self, prompt, settings):
        return self.complete(prompt, settings)


def not_a_provider(**options):
    return object()
"""


def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry_points: dict[str, str]) -> str:
    """Put a distribution declaring ``entry_points`` (name → "attribute of its module") on sys.path."""
    number = next(_plugin_numbers)
    module = f"fake_provider_plugin_{number}"
    root = tmp_path / f"site_{number}"
    dist_info = root / f"fake_provider_plugin_{number}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (root / f"{module}.py").write_text(PLUGIN_SOURCE)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: fake-provider-plugin-{number}\nVersion: 1.0\n"
    )
    lines = [f"{name} = {module}:{attribute}" for name, attribute in entry_points.items()]
    (dist_info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n" + "\n".join(lines) + "\n")
    monkeypatch.syspath_prepend(str(root))
    return module


def test_the_four_built_ins_are_available_by_name() -> None:
    assert {"local", "openai", "litellm", "scripted"} <= set(available_providers())


def test_create_provider_builds_a_built_in_with_its_options() -> None:
    provider = create_provider("scripted", replies=["hello"])

    assert isinstance(provider, ScriptedProvider)
    assert provider.complete(CAPITAL_QUESTION, ModelSettings()).text == "hello"


def test_create_provider_builds_the_local_and_openai_providers_without_calling_them() -> None:
    assert isinstance(create_provider("local", n_ctx=512), LocalProvider)
    assert isinstance(create_provider("openai", base_url="http://127.0.0.1:9/v1"), OpenAICompatProvider)


def test_an_unknown_name_is_a_configuration_error_naming_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="unknown provider 'gpt'; known providers: .*local.*openai"):
        create_provider("gpt")


def test_an_option_the_provider_does_not_take_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="'scripted' does not accept these options.*colour"):
        create_provider("scripted", colour="blue")


def test_built_in_entry_points_when_declared_point_at_the_built_in_classes() -> None:
    declared = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}

    for name, target in BUILTIN_PROVIDERS.items():
        assert declared.get(name, target).replace(" ", "") == target


def test_a_plugin_registered_through_the_entry_point_group_is_found_and_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, monkeypatch, {"echo": "EchoProvider"})

    provider = create_provider("echo", prefix=">> ")

    assert "echo" in available_providers()
    assert provider.complete(CAPITAL_QUESTION, ModelSettings()).text.startswith(">> [user]")


def test_a_plugin_claiming_a_built_in_name_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, monkeypatch, {"scripted": "EchoProvider"})

    with pytest.raises(ConfigurationError, match="'scripted' is declared with several targets"):
        create_provider("scripted")


def test_a_plugin_that_builds_no_provider_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, monkeypatch, {"hollow": "not_a_provider"})

    with pytest.raises(
        ConfigurationError, match="'hollow' built a object, which lacks the Provider protocol"
    ):
        create_provider("hollow")


def test_a_plugin_that_cannot_be_imported_is_a_configuration_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, monkeypatch, {"ghost": "NoSuchClass"})

    with pytest.raises(ConfigurationError, match="provider 'ghost' .*NoSuchClass.* cannot be loaded"):
        create_provider("ghost")


def test_two_plugins_claiming_one_name_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, monkeypatch, {"twin": "EchoProvider"})
    install_plugin(tmp_path, monkeypatch, {"twin": "EchoProvider"})

    with pytest.raises(ConfigurationError, match="'twin' is declared with several targets"):
        create_provider("twin")
