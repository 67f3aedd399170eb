"""What tests may import: shared helpers come from ``tests.helpers`` (fixtures from conftest.py
files, which pytest finds by itself), never from another test module; and tests use the
product's public names only, never a ``_private`` one of agents, perception, dispatch, api or
cityloop.

An import binds a name; reaching a private attribute through that name counts too
(``tasks._job_lock``, ``monkeypatch.setattr(tasks, "_models", …)``). A private attribute of
an object made at run time (``detector._frame_detections``) is beyond what a syntax check can
see.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
TESTS = ROOT / "tests"
HELPERS = "tests.helpers"
PRODUCT = ("agents", "perception", "dispatch", "api", "cityloop")
REACHING = {"setattr", "delattr", "getattr", "hasattr", "patch"}  # (obj, "name") or ("a.b.name")


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def is_helpers(module: str) -> bool:
    return module == HELPERS or module.startswith(HELPERS + ".")


def root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def findings(source: str, module: str) -> list[str]:
    """Each import of a test module and each reach for a private product name in the source
    of ``module`` (its dotted name, which relative imports resolve against)."""
    tree = ast.parse(source, filename=module)
    out: list[str] = []
    product_names: set[str] = set()  # names bound by importing something of the product

    def where(node: ast.AST) -> str:
        return f"{module}:{getattr(node, 'lineno', 0)}"

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top == "tests" and not is_helpers(alias.name):
                    out.append(f"{where(node)} imports the test module {alias.name}")
                if top in PRODUCT:
                    if any(private(part) for part in alias.name.split(".")):
                        out.append(f"{where(node)} imports the private module {alias.name}")
                    product_names.add(alias.asname or top)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".")[: -node.level]
                source = ".".join([*package, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            top = source.split(".")[0]
            if top == "tests":
                wanted = [source] if source != "tests" else [f"tests.{a.name}" for a in node.names]
                out.extend(f"{where(node)} imports the test module {name}"
                           for name in wanted if not is_helpers(name))
            if top in PRODUCT:
                parts = source.split(".")
                out.extend(f"{where(node)} imports the private name {source}.{alias.name}"
                           for alias in node.names if private(alias.name) or any(map(private, parts)))
                product_names.update(alias.asname or alias.name for alias in node.names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr) and root_name(node.value) in product_names:
            out.append(f"{where(node)} uses the private name {ast.unparse(node)}")
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name not in REACHING or not node.args:
                continue
            first, rest = node.args[0], node.args[1:]
            if (isinstance(first, ast.Name) and first.id in product_names and rest
                    and isinstance(rest[0], ast.Constant) and isinstance(rest[0].value, str)
                    and private(rest[0].value)):
                out.append(f"{where(node)} reaches the private name {first.id}.{rest[0].value}")
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                parts = first.value.split(".")
                if parts[0] in PRODUCT and any(map(private, parts)):
                    out.append(f"{where(node)} reaches the private name {first.value}")
    return out


def dotted(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_tests_import_only_helpers_and_public_product_names() -> None:
    found = [f for path in sorted(TESTS.rglob("*.py"))
             for f in findings(path.read_text(encoding="utf-8"), dotted(path))]
    assert found == []


@pytest.mark.parametrize("source, expected", [
    ("from tests.integration.test_lifecycle_api import make_ticket\n",
     "imports the test module tests.integration.test_lifecycle_api"),
    ("import tests.conftest\n", "imports the test module tests.conftest"),
    ("from tests import conftest\n", "imports the test module tests.conftest"),
    ("from .fakes import FakeChatModel\n", "imports the test module tests.unit.agents.fakes"),
    ("from cityloop.demo import _sign_in\n", "imports the private name cityloop.demo._sign_in"),
    ("def f():\n    from dispatch.core import _secret as s\n",
     "imports the private name dispatch.core._secret"),
    ("import dispatch.cameras.tasks as tasks\nwith tasks._job_lock(1):\n    pass\n",
     "uses the private name tasks._job_lock"),
    ("import dispatch.cameras.tasks\ndispatch.cameras.tasks._models.clear()\n",
     "uses the private name dispatch.cameras.tasks._models"),
    ("from dispatch.cameras import tasks\ndef t(monkeypatch):\n    monkeypatch.setattr(tasks, '_models', {})\n",
     "reaches the private name tasks._models"),
    ("def t(monkeypatch):\n    monkeypatch.setattr('dispatch.tasks._depth', len)\n",
     "reaches the private name dispatch.tasks._depth"),
])
def test_the_checker_sees_each_kind_of_finding(source: str, expected: str) -> None:
    found = findings(source, "tests.unit.agents.test_probe")
    assert len(found) == 1 and found[0].endswith(expected), found


def test_the_checker_accepts_helpers_and_public_names() -> None:
    source = (
        "from tests.helpers.fakes import FakeChatModel\nimport tests.helpers.db\n"
        "from tests import helpers\nfrom dispatch.cameras import tasks\nimport dispatch.tasks\n"
        "from perception.types import Prompt\n"
        "with tasks.job_lock(1):\n    pass\nPrompt.__name__\nself = object()\nself._one\n"
        "def t(monkeypatch):\n    monkeypatch.setattr(tasks, 'loaded_models', {})\n")
    assert findings(source, "tests.unit.test_probe") == []
    assert findings("from . import db\n", "tests.helpers.receivers") == []
