"""The import direction of DESIGN.md: web → query → indexer → harvesters; query never imports
Flask; Whoosh stays behind indexer/ and query/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
FORBIDDEN = {
    "harvesters": {"indexer", "query", "web", "bioimage_search", "whoosh", "flask"},
    "indexer": {"query", "web", "bioimage_search", "flask"},
    "query": {"web", "bioimage_search", "flask", "werkzeug"},
    "web": {"bioimage_search", "whoosh"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_import_direction(package):
    for path in (ROOT / package).rglob("*.py"):
        bad = imported_roots(path) & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
