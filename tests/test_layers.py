"""The layer rules of docs/ARCHITECTURE.md, as data and as tests.

``MAY_IMPORT`` is the table the document shows (a test checks the two agree): which of
Canopy's own packages each package may import, read off the source with ``ast`` (nothing is
imported), lazy imports inside functions included. ``HEAVY`` libraries stay out of the core
search and of the command line's start-up (checked with ``python -X importtime`` in a fresh
interpreter, so indirect imports count), and engines import model libraries only inside
functions, when a model loads.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: package (a folder, or an entry-point file) -> the first-party packages it may import
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "backend": ("backend",),
    "ui": ("ui", "backend"),
    "app.py": ("ui", "backend"),
}
FIRST_PARTY = ("backend", "ui", "app", "bench", "tests")

#: slow to import (seconds, or hundreds of MB): loaded only where a feature needs them
HEAVY = ("numpy", "torch", "gradio", "vllm", "transformers", "llama_cpp", "plotly")
#: modules that pull in no HEAVY library, not even indirectly: the core search, the engine
#: registry and interface, and the command line's start-up (``canopy --help`` stays instant)
LIGHT = (
    "backend.search.mcts",
    "backend.search.selection",
    "backend.search.base",
    "backend.engines",
    "backend.engines.base",
    "backend.cli",
    "ui.cli",
)
#: what an engine module imports only inside functions (numpy is a core dependency:
#: llamacpp's sampler uses it at module level, and the registry imports an engine on lookup)
MODEL_LIBRARIES = ("torch", "vllm", "transformers", "llama_cpp", "openai", "gradio", "plotly")

# a module named by a string, as registries hold them ("backend.engines.scripted:ScriptedEngine")
_MODULE_ATTR = re.compile(r"[A-Za-z_]\w*(\.\w+)*:\w+")
_IMPORTERS = ("import_module", "__import__", "require")


def python_files(package: str) -> list[Path]:
    path = ROOT / package
    return [path] if path.is_file() else sorted(path.rglob("*.py"))


def imports(tree: ast.AST, package: str) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every import anywhere in ``tree`` (a module of ``package``): module
    level, inside functions, under ``if TYPE_CHECKING``, ``import_module("...")`` calls and
    ``"pkg.mod:Name"`` strings."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])
            else:
                yield node.lineno, node.module or ""
                if node.module in FIRST_PARTY:  # from backend import events
                    yield from ((node.lineno, f"{node.module}.{a.name}") for a in node.names)
        elif isinstance(node, ast.Constant) and _MODULE_ATTR.fullmatch(str(node.value)):
            yield node.lineno, node.value.partition(":")[0]
        elif (name := _imported_by_call(node)) is not None:
            yield node.lineno, name


def _imported_by_call(node: ast.AST) -> str | None:
    """``x`` of ``import_module("x")``, ``__import__("x")`` or ``require("x")`` (backend._optional)."""
    if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Constant):
        return None
    func = getattr(node.func, "id", getattr(node.func, "attr", ""))
    return str(node.args[0].value) if func in _IMPORTERS else None


def package_of(path: Path) -> str:
    """The package a module's relative imports resolve against (``backend/cli/__init__.py``: backend.cli)."""
    return ".".join(path.relative_to(ROOT).parent.parts)


def forbidden_imports(package: str) -> list[str]:
    allowed = set(MAY_IMPORT[package])
    bad = []
    for path in python_files(package):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, name in imports(tree, package_of(path)):
            top = name.split(".")[0]
            if top in FIRST_PARTY and top not in allowed:
                bad.append(f"{path.relative_to(ROOT)}:{line}: imports {name}")
    return bad


@pytest.mark.parametrize("package", MAY_IMPORT)
def test_imports_follow_the_layer_table(package):
    """backend never imports ui (not even inside a function); ui and app.py import ui and backend."""
    assert forbidden_imports(package) == []


def test_the_checker_sees_lazy_and_by_name_imports():
    source = (
        "import backend.tree\n"
        "def serve():\n"
        "    from ui.app import main\n"
        "    return main\n"
        "class Late:\n"
        "    def f(self):\n"
        "        import ui\n"
        "        return importlib.import_module('ui.solve')\n"
        "ENGINES = {'web': 'ui.services:EngineSlot'}\n"
    )
    names = {name for _, name in imports(ast.parse(source), "backend")}
    assert {"ui.app", "ui", "ui.solve", "ui.services"} <= names and "backend.tree" in names


@pytest.fixture(scope="module")
def imported() -> dict[str, set[str]]:
    """LIGHT module -> the top-level names of every module a fresh interpreter imports for it."""
    found = {}
    for module in LIGHT:
        res = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert res.returncode == 0, res.stderr[-2000:]
        found[module] = {
            line.rsplit("|", 1)[-1].strip().split(".")[0]
            for line in res.stderr.splitlines()
            if line.startswith("import time:") and "|" in line
        }
    return found


@pytest.mark.parametrize("module", LIGHT)
def test_light_modules_import_no_heavy_library(module, imported):
    assert sorted(imported[module] & set(HEAVY)) == []


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_time_imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, name) of what runs when the module is imported: its statements and class bodies,
    not function bodies nor ``if TYPE_CHECKING`` blocks; ``require("x")`` counts as importing x."""
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and _is_type_checking(node):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            yield node.lineno, node.module or ""
        elif (name := _imported_by_call(node)) is not None:
            yield node.lineno, name
        todo.extend(ast.iter_child_nodes(node))


@pytest.mark.parametrize("path", python_files("backend/engines"), ids=lambda p: p.name)
def test_engines_import_model_libraries_only_inside_functions(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = import_time_imports(tree)
    heavy = [f"{line}: {name}" for line, name in found if name.split(".")[0] in MODEL_LIBRARIES]
    assert heavy == [], f"{path.relative_to(ROOT)} imports at module level: {heavy}"


def test_the_import_time_checker_skips_function_bodies():
    source = (
        "import numpy\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    import torch\n"
        "class E:\n"
        "    import vllm\n"
        "    def load(self):\n"
        "        import transformers\n"
        "LIB = require('llama_cpp')\n"
    )
    names = {name for _, name in import_time_imports(ast.parse(source))}
    assert names == {"numpy", "typing", "vllm", "llama_cpp"}


def doc_rules() -> dict[str, tuple[str, ...]]:
    """The 'may import' table of docs/ARCHITECTURE.md: ``| `pkg` | `a`, `b` | ... |`` rows."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`") and cells[2].startswith("`tests/"):
            rows[cells[0].strip("`")] = tuple(re.findall(r"`([^`]+)`", cells[1]))
    return rows


def test_the_architecture_doc_shows_this_table():
    assert doc_rules() == MAY_IMPORT
