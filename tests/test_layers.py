"""The import contract (`.importlinter`, run by `make lint`) and the three single modules it
cannot take as roots: `models.py` and `logs.py` stand at the bottom and import nothing of
Tend's, and nothing imports `app.py`, the composition root."""

from __future__ import annotations

import ast
import shutil
import subprocess

import pytest
from support import ROOT

OURS = {
    "admin",
    "app",
    "bounces",
    "campaigns",
    "doctor",
    "logs",
    "models",
    "settings",
    "signup",
    "studio",
    "subscribers",
    "transfers",
    "web",
    "workers",
}


def imported_roots(path) -> set[str]:
    """The top-level names a module imports (absolute imports only: Tend uses no other)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", ["models.py", "logs.py"])
def test_the_bottom_modules_import_nothing_of_ours(module):
    assert imported_roots(ROOT / module) & OURS == set()


def test_nothing_of_the_service_imports_the_composition_root():
    service = [
        path
        for root in sorted(OURS - {"app", "logs", "models"})
        for path in sorted((ROOT / root).rglob("*.py"))
    ]
    assert service, "the service's packages were not found"
    importers = [str(p.relative_to(ROOT)) for p in service if "app" in imported_roots(p)]
    assert importers == []


def test_the_import_contract_holds():
    lint = shutil.which("lint-imports", path=str(ROOT / ".venv" / "bin")) or shutil.which(
        "lint-imports"
    )
    if lint is None:
        pytest.skip("import-linter is not installed: pip install -r requirements-dev.txt")
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout
