"""`promptevolve keys`: a key is printed once and stored hashed; list never shows secrets; revoke by
prefix or name; bad scopes and unknown keys exit 2 with the reason."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from promptevolve.access import KEY_PATTERN, KeyService, hash_key
from promptevolve.cli.app import app
from promptevolve.store.tables import ApiKey


@pytest.fixture
def cli(database_url):
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), env={"PROMPTEVOLVE_DATABASE_URL": database_url})


def test_create_prints_the_key_once_and_stores_only_its_hash(cli, store):
    result = cli("keys", "create", "--name", "ci", "--scopes", "read,execute")
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert KEY_PATTERN.match(key)
    with store.read() as s:
        row = s.scalar(select(ApiKey))
    assert (
        row.key_hash == hash_key(key)
        and key not in (row.key_hash, row.prefix)
        and row.scopes == ["read", "execute"]
    )
    assert KeyService(store).authenticate(key).name == "ci"
    listing = cli("keys", "list")
    assert listing.exit_code == 0 and "ci" in listing.stdout and f"pe_{row.prefix}…" in listing.stdout
    assert key not in listing.stdout and key[12:] not in listing.stdout


def test_json_output_for_scripts(cli):
    created = json.loads(cli("keys", "create", "--name", "bot", "--scopes", "admin", "--json").stdout)
    assert created["scopes"] == ["admin"] and created["key"].startswith(f"pe_{created['prefix']}_")
    listed = json.loads(cli("keys", "list", "--json").stdout)
    assert [k["name"] for k in listed] == ["bot"] and "key" not in listed[0] and "key_hash" not in listed[0]


def test_revoke_by_prefix_or_name_and_refusals(cli, store):
    first = json.loads(cli("keys", "create", "--name", "a", "--scopes", "read", "--json").stdout)
    cli("keys", "create", "--name", "b", "--scopes", "read")
    cli("keys", "create", "--name", "b", "--scopes", "read")
    assert cli("keys", "revoke", f"pe_{first['prefix']}").exit_code == 0
    ambiguous = cli("keys", "revoke", "b")
    assert ambiguous.exit_code == 2 and "several active keys are named 'b'" in ambiguous.stderr
    unknown = cli("keys", "revoke", "nobody")
    assert unknown.exit_code == 2 and "no key with prefix or name 'nobody'" in unknown.stderr
    assert [k.name for k in KeyService(store).list()] == ["b", "b"]
    assert "revoked" in cli("keys", "list", "--all").stdout
    bad = cli("keys", "create", "--name", "x", "--scopes", "read,root")
    assert bad.exit_code == 2 and "unknown scope 'root'" in bad.stderr
