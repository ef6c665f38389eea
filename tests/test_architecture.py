import ast
import shutil
import subprocess
import sys
import tomllib
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


def _query_modules() -> set[str]:
    """The modules the contract "Tables only in the store and the parts' query modules" lets import the
    tables: each part's reads and writes."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = [
        c
        for c in config["tool"]["importlinter"]["contracts"]
        if c["name"] == "Tables only in the store and the parts' query modules"
    ]
    return {rule.split(" -> ")[0] for rule in contract["ignore_imports"]}


def test_only_the_store_and_the_query_modules_open_a_transaction():
    allowed = _query_modules()
    opened = []
    for path in sorted((ROOT / "src" / "promptevolve").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT / "src").with_suffix("").parts).removesuffix(".__init__")
        if module.startswith("promptevolve.store.") or module in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called = node.func if isinstance(node, ast.Call) else None
            if not (isinstance(called, ast.Attribute) and called.attr in {"read", "write", "snapshot"}):
                continue
            owner = called.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if name == "store":
                opened.append(f"{module}:{node.lineno} store.{called.attr}()")
    assert not opened, "ask the part's query module instead:\n" + "\n".join(opened)
