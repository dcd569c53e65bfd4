"""The API reaches the running engine through ``headend.api.facade`` only."""

from __future__ import annotations

import ast
from pathlib import Path

import headend.api

API_DIR = Path(headend.api.__file__).parent
BORROWS_THE_ENGINE = {"facade.py", "app.py"}
"""``app.py`` takes the engine from its caller and wraps it at once; nothing else sees it."""


def api_modules() -> list[Path]:
    return sorted(API_DIR.rglob("*.py"))


def test_only_the_facade_and_the_app_import_the_engine() -> None:
    importers = []
    for path in api_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            if any(name == "headend.engine" for name in names):
                importers.append(path.relative_to(API_DIR).as_posix())
    assert set(importers) <= BORROWS_THE_ENGINE
    assert len(api_modules()) > 10, "the walk found the API's modules"


def test_the_app_asks_nothing_of_the_engine_itself() -> None:
    """No ``engine.<attribute>`` in app.py: every question goes through the facade."""
    tree = ast.parse((API_DIR / "app.py").read_text(encoding="utf-8"))
    reached = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "engine"
    ]
    assert reached == []
