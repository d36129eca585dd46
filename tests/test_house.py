"""The house rules that a reader of core/ counts on: no function over 80 lines, no module over 450, and the store's
internal module used only inside the store."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION, MAX_MODULE = 80, 450


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def long_functions(path: Path, limit: int = MAX_FUNCTION) -> list[str]:
    """`name: lines` of each function or method of the file longer than `limit` lines (decorators not counted)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{node.name}: {node.end_lineno - node.lineno + 1}" for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= limit]


def test_no_function_in_core_over_80_lines():
    found = {str(p.relative_to(ROOT)): long for p in _sources("core") if (long := long_functions(p))}
    assert not found, found


def test_no_module_in_core_over_450_lines():
    found = {str(p.relative_to(ROOT)): n for p in _sources("core")
             if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE}
    assert not found, found


def test_the_length_check_counts_a_function_from_def_to_its_last_line(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def short():\n    return 1\n\n\nclass C:\n    def long(self):\n" + "        x = 1\n" * 80)
    assert long_functions(path) == ["long: 81"]
    assert long_functions(path, limit=82) == []


@pytest.mark.parametrize("folder", ["core", "pages", "bench", "tests"])
def test_the_stores_internal_module_is_imported_only_inside_the_store(folder):
    outside = []
    for path in _sources(folder):
        if path.parent == ROOT / "core" / "store":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if "core.store.shared" in names:
                outside.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not outside
