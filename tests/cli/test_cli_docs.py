import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_in_docs_matches_the_commands(tmp_path):
    out = tmp_path / "cli.md"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "typer",
            "promptevolve.cli.app",
            "utils",
            "docs",
            "--name",
            "promptevolve",
            "--output",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    assert out.read_text() == DOCS.read_text(), (
        "docs/cli.md is out of date: python -m typer promptevolve.cli.app utils docs --name promptevolve "
        "--output docs/cli.md"
    )
