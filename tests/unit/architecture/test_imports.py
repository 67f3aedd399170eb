"""The arrows between our packages, and what a web node must not need.

agents/ and perception/ are libraries (third-party imports only); dispatch/ may use them;
api/ sits on top and only the composition package (cityloop/) imports it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
OURS = ("agents", "perception", "dispatch", "api", "cityloop")
ALLOWED = {
    "agents": {"agents"},
    "perception": {"perception"},
    "dispatch": {"dispatch", "agents", "perception"},
    "api": {"api", "dispatch", "agents", "perception"},
    "cityloop": set(OURS),
}
HEAVY = ("torch", "torchvision", "supervision", "cv2", "av", "transformers", "open_clip",
         "sentence_transformers", "groundingdino")


def imported_packages(path: Path) -> set[str]:
    """Top-level package names a module imports, at any depth (function-level imports too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(OURS)


def violations(package: str) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_packages(path) - ALLOWED[package]
        out.extend(f"{path.relative_to(ROOT)} imports {name}" for name in sorted(bad))
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    assert violations(package) == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from api.app import create_app\n    import dispatch.tasks\n")
    assert imported_packages(module) == {"api", "dispatch"}


BLOCKER = """
import importlib.abc, sys
HEAVY = {heavy!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            raise ImportError(f"blocked heavy import: {{name}}")
        return None
sys.meta_path.insert(0, Block())
"""


@pytest.mark.parametrize("module", ["api.app", "dispatch.tasks", "dispatch.tables"])
def test_web_and_dispatch_import_without_ml_or_vision_extras(module: str) -> None:
    """A web node or an LLM worker needs neither torch nor supervision (the [ml] and [vision]
    extras): the modules import with every heavy package blocked."""
    code = BLOCKER.format(heavy=HEAVY) + f"import {module}\nprint('imported')\n"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "imported"


def test_the_blocker_blocks() -> None:
    code = BLOCKER.format(heavy=HEAVY) + "import supervision\n"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "blocked heavy import" in done.stderr
