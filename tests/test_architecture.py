import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_of_the_design_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


#: The services ``promptevolve.compose`` wires together (collaborators shared, cache invalidation once).
COMPOSED = {"Registry", "ExperimentService", "EvolutionService", "Autopilot"}
#: The applications: each gets its services from ``compose``, never by calling a constructor.
APPLICATIONS = ("cli", "api", "jobs", "dashboard", "server")


def test_the_applications_build_services_only_through_compose():
    built_by_hand = []
    for package in APPLICATIONS:
        for path in sorted((ROOT / "src" / "promptevolve" / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                called = node.func if isinstance(node, ast.Call) else None
                if isinstance(called, ast.Name) and called.id in COMPOSED:
                    built_by_hand.append(f"{path.relative_to(ROOT)}:{node.lineno} {called.id}(…)")
    assert not built_by_hand, "use promptevolve.compose instead:\n" + "\n".join(built_by_hand)
