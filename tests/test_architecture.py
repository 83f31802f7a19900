"""docs/architecture.md names every module of the package, in the README's order."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> list[str]:
    return sorted(str(p.relative_to(ROOT / "assistant")) for p in (ROOT / "assistant").rglob("*.py"))


def _named(text: str) -> list[str]:
    return re.findall(r"^\| `([\w/]+\.py)` \|", text, re.M)


def test_every_module_is_named_in_the_architecture_page():
    named = _named((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))
    missing = [m for m in _modules() if m not in named]
    assert not missing, f"docs/architecture.md does not name {missing}"
    stale = [m for m in named if m not in _modules()]
    assert not stale, f"docs/architecture.md names modules that do not exist: {stale}"


def test_the_readme_layout_keeps_the_same_order():
    named = [m for m in _named((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")) if "/" not in m
             and not m.startswith("__")]
    layout = (ROOT / "README.md").read_text(encoding="utf-8").split("## Layout", 1)[1].split("```")[1]
    listed = [m for m in re.findall(r"^  ([\w]+\.py)\b", layout, re.M)]
    assert listed == [m for m in named if m in listed], "the README's layout is not in docs/architecture.md's order"
    assert set(named) <= set(listed), f"the README's layout lacks {sorted(set(named) - set(listed))}"


def _too_long() -> tuple[list[str], list[str]]:
    """Modules over 500 lines, and functions over 60 (from `def` to their last line, decorators not counted)."""
    import ast

    modules, functions = [], []
    for path in sorted((ROOT / "assistant").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        name = str(path.relative_to(ROOT))
        if len(source.splitlines()) > 500:
            modules.append(f"{name}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                functions.append(f"{name}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines")
    return modules, functions


def test_modules_and_functions_stay_readable():
    modules, functions = _too_long()
    assert not modules, f"modules over 500 lines: {modules}"
    assert not functions, f"functions over 60 lines: {functions}"
