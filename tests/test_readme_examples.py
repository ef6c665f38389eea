"""Every `$ promptevolve …` example of the README runs as written, in order, on a fresh database.

The examples are read from the README's ``text`` blocks (a trailing ``\\`` continues a line, a ``#``
comment ends it). Two kinds of text are not literal and are filled in, as a reader would: the
execution id the README abbreviates (``01a2157e7424d5b2…``) becomes the id the ``run`` example
printed, and the files the examples name (``better.json``, ``feedback.csv``) are written from the
formats the README documents next to them. Commands that serve until stopped (``serve``,
``autopilot serve``) are started and stopped once they print their first line. Every other example
must exit 0 with the real local model; then every ``python`` block runs in the same folder and database.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
ABBREVIATED_ID = "01a2157e7424d5b2…"
SERVING = (("serve",), ("autopilot", "serve"))


def readme_commands(text: str) -> list[list[str]]:
    """The arguments of every ``$ promptevolve`` line of the README's text blocks, in order."""
    commands: list[list[str]] = []
    for block in re.findall(r"```text\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            if not line.startswith("$ promptevolve "):
                continue
            words = shlex.split(line.removeprefix("$ promptevolve "), comments=True)
            commands.append(words)
    return commands


def documented_block(text: str, marker: str) -> str:
    """The fenced block right after the first line that contains ``marker``."""
    after = text[text.index(marker) :]
    match = re.search(r"```\w*\n(.*?)```", after, re.S)
    assert match is not None, f"no block after {marker!r}"
    return match.group(1)


def test_the_readme_examples_are_found() -> None:
    commands = readme_commands(README.read_text(encoding="utf-8"))

    assert ["init"] in commands
    assert any(c[:1] == ["run"] for c in commands)
    assert len(commands) >= 20


def _serve_briefly(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    process = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 120
        first = ""
        while time.monotonic() < deadline and not first.strip():
            first = process.stdout.readline()
            if process.poll() is not None:
                break
        assert first.strip(), f"{argv[3:]} printed nothing"
        assert process.poll() is None, f"{argv[3:]} exited early: {first}"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.slow
def test_every_readme_example_runs_as_written_on_a_fresh_database(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    env = {
        **os.environ,
        "PROMPTEVOLVE_DATABASE_URL": f"sqlite:///{tmp_path / 'promptevolve.db'}",
        "COLUMNS": "200",
    }
    (tmp_path / "better.json").write_text(documented_block(text, "The file format of `prompt add"))
    execution_id = ""
    for words in readme_commands(text):
        if tuple(words[: len(SERVING[1])]) in SERVING or tuple(words[:1]) in SERVING:
            _serve_briefly([sys.executable, "-m", "promptevolve.cli.app", *words], env, tmp_path)
            continue
        words = [execution_id if w == ABBREVIATED_ID else w for w in words]
        if words[:2] == ["feedback", "import"]:
            (tmp_path / words[2]).write_text(
                "execution_id,thumbs,rating,score,correction,comment\n"
                f"{execution_id},up,5,0.9,,from the README test\n"
            )
        run = subprocess.run(
            [sys.executable, "-m", "promptevolve.cli.app", *words],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert run.returncode == 0, (
            f"promptevolve {' '.join(words)}\n{run.stdout[-1500:]}\n{run.stderr[-1500:]}"
        )
        if words[:1] == ["run"]:
            found = re.search(r"execution id: (\w+)", run.stdout)
            assert found, run.stdout
            execution_id = found.group(1)
    assert execution_id
    json.loads((tmp_path / "better.json").read_text())  # the documented format is valid JSON
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        code = "import os\nos.chdir(os.environ['README_DIR'])\n" + block
        run = subprocess.run(
            [sys.executable, "-c", code],
            env={**env, "README_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, f"{block}\n{run.stderr[-2000:]}"
