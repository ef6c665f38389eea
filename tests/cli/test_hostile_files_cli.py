"""Hostile files and values on the command line: every one is ``error: …`` on stderr with exit code 2,
never a traceback, and nothing is written; feedback import is idempotent and strict about extra values."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from promptevolve.cli.app import app
from promptevolve.client import PromptOptimizer
from promptevolve.core.settings import Settings
from promptevolve.core.types import ModelSettings
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.registry import Registry, VariantCreate

NOT_UTF8 = "café".encode("latin-1") + b"\n"
HUGE_INT = "9" * 5000
DEEP = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000


@pytest.fixture
def cli(database_url):
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), env={"PROMPTEVOLVE_DATABASE_URL": database_url})


@pytest.fixture
def executions(store, database_url):
    Registry(store).register(
        VariantCreate(prompt="echo", template="Echo {{ word }}", settings=ModelSettings(provider="scripted"))
    )
    with PromptOptimizer(
        store, settings=Settings(database_url=database_url), providers={"scripted": ScriptedProvider()}
    ) as po:
        ids = [po.run("echo", {"word": w}).execution_id for w in ("a", "b")]
        po.flush()
    return ids


def _refused(result, *words: str) -> None:
    """Exit 2, one ``error:`` message naming the problem, and no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit)
    message = " ".join(result.stderr.split())
    assert message.startswith("error:"), message
    assert "Traceback" not in result.output
    for word in words:
        assert word in message, (word, message)


# Each case: a file name, its bytes, the command (FILE stands for the file), words the error must name.
FILES = [
    ("data.jsonl", NOT_UTF8, ["dataset", "import", "d", "FILE"], ["not UTF-8", "line 1, column 4"]),
    (
        "data.jsonl",
        b'{"inputs": {"x": ' + HUGE_INT.encode() + b'}, "expected": "a"}\n',
        ["dataset", "import", "d", "FILE"],
        ["4,300 digits", "line 1"],
    ),
    ("data.jsonl", DEEP.encode() + b"\n", ["dataset", "import", "d", "FILE"], ["nested more than"]),
    (
        "data.jsonl",
        b'{"inputs": {"x": NaN}, "expected": "a"}\n',
        ["dataset", "import", "d", "FILE"],
        ["NaN is not standard JSON"],
    ),
    (
        "fb.csv",
        b"execution_id,thumbs\n" + "é".encode("latin-1") + b",up\n",
        ["feedback", "import", "FILE"],
        ["not UTF-8", "line 2"],
    ),
    ("fb.jsonl", b"\xff\xfe{}", ["feedback", "import", "FILE"], ["not UTF-8"]),
    ("t.txt", NOT_UTF8, ["prompt", "add", "p", "--template-file", "FILE"], ["template file", "not UTF-8"]),
    ("t.json", DEEP_OBJECT.encode(), ["prompt", "add", "p", "--template-file", "FILE"], ["nested more than"]),
    (
        "t.json",
        b'[{"role": "user", "content": ' + HUGE_INT.encode() + b"}]",
        ["prompt", "add", "p", "--template-file", "FILE"],
        ["4,300 digits"],
    ),
    ("t.txt", b"Hi \x00 {{ x }}", ["prompt", "add", "p", "--template-file", "FILE"], ["NUL character"]),
    (
        "t.txt",
        b"{{ (9**(9**8)) % 2 }}",
        ["prompt", "add", "p", "--template-file", "FILE"],
        ["constant expression too large"],
    ),
    (
        "t.txt",
        b"{{ x.__class__ }}",
        ["prompt", "add", "p", "--template-file", "FILE"],
        ["unsafe attribute access"],
    ),
    ("vars.json", NOT_UTF8, ["run", "echo", "--vars-file", "FILE"], ["variables file", "not UTF-8"]),
    (
        "vars.json",
        ('{"word": ' + HUGE_INT + "}").encode(),
        ["run", "echo", "--vars-file", "FILE"],
        ["4,300 digits"],
    ),
    (
        "vars.json",
        ('{"word": ' + DEEP + "}").encode(),
        ["run", "echo", "--vars-file", "FILE"],
        ["nested more than"],
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "command", "words"), FILES, ids=[f"{f[2][0]}-{f[3][0]}" for f in FILES]
)
def test_hostile_files_exit_2_with_a_message_and_write_nothing(
    cli, executions, tmp_path, db_snapshot, name, content, command, words
):
    path = tmp_path / name
    path.write_bytes(content)
    before = db_snapshot()
    _refused(cli(*[str(path) if part == "FILE" else part for part in command]), *words)
    assert db_snapshot() == before


def test_a_huge_number_in_a_setting_is_a_clear_error(cli, tmp_path, db_snapshot):
    before = db_snapshot()
    _refused(cli("prompt", "add", "p", "--template", "Hi {{ x }}", "--setting", f"temperature={HUGE_INT}"))
    assert db_snapshot() == before


def test_run_of_a_template_failing_at_render_exits_2_without_a_traceback(cli, store):
    Registry(store).register(
        VariantCreate(prompt="div", template="{{ 1 / x }}", settings=ModelSettings(provider="scripted"))
    )
    _refused(cli("run", "div", "--var", "x=0"), "no answer for 'div'", "TypeError")
    _refused(cli("run", "div", "--vars-file", "/nonexistent.json"), "does not exist")


def test_feedback_import_of_the_same_file_twice_stores_each_row_once(cli, executions, tmp_path):
    path = tmp_path / "fb.csv"
    path.write_text(
        "execution_id,thumbs,rating,comment\n"
        f"{executions[0]},up,5,great\n"
        f"{executions[1]},down,,\n"
        f"{executions[1]},down,,\n"  # a repeated row is the same feedback
    )
    first = cli("feedback", "import", str(path))
    assert first.exit_code == 0, first.output
    assert "imported 2 rows (3 feedback items)" in first.stdout
    again = cli("feedback", "import", str(path))
    assert again.exit_code == 0, again.output
    assert "imported 0 rows (0 feedback items)" in again.stdout
    assert "skipped 3 rows already imported" in again.stdout
    same_as_jsonl = tmp_path / "fb.jsonl"
    same_as_jsonl.write_text(json.dumps({"execution_id": executions[1], "thumbs": False}))
    assert "imported 0 rows" in cli("feedback", "import", str(same_as_jsonl)).stdout
    shown = [json.loads(cli("executions", "show", e, "--json").stdout)["feedback"] for e in executions]
    assert sorted(f["kind"] for f in shown[0]) == ["rating", "thumbs"]
    assert [f["kind"] for f in shown[1]] == ["thumbs"]


def test_feedback_given_twice_through_the_sdk_is_still_kept_twice(store, executions):
    """The import key applies to imports only: two people giving the same thumbs are two facts."""
    with PromptOptimizer(store, settings=Settings(database_url=store.url)) as po:
        po.feedback(executions[0], thumbs=True)
        po.feedback(executions[0], thumbs=True)
    from promptevolve.tracking.executions import get_execution

    assert [f.kind for f in get_execution(store, executions[0]).feedback] == ["thumbs", "thumbs"]


def test_csv_rows_with_more_values_than_the_header_are_refused_with_their_line(cli, executions, tmp_path):
    path = tmp_path / "fb.csv"
    path.write_text(f"execution_id,thumbs\n{executions[0]},up\n{executions[1]},down,5,oops\n")
    result = cli("feedback", "import", str(path))
    assert result.exit_code == 2
    out = " ".join(result.stdout.split())
    assert "imported 1 rows" in out
    assert "│ 3 │ 2 more values than the header has columns: '5', 'oops'" in out
    shown = json.loads(cli("executions", "show", executions[1], "--json").stdout)
    assert shown["feedback"] == []


def test_run_prints_what_it_stored_when_the_input_holds_a_lone_surrogate(cli, executions):
    """A terminal cannot write a lone surrogate: the answer is printed as stored (escaped)."""
    result = cli("run", "echo", "--var", "word=a", "--var", "odd\ud800=1", "--json")
    assert result.exit_code == 0, (result.output, result.exception)
    assert json.loads(result.stdout)["unexpected_variables"] == ["odd\\ud800"]
