"""Each shared fixture is defined once: in tests/support/ or one folder's conftest, and no test
module shadows it with a fixture of the same name."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def fixtures_by_name() -> dict[str, list[str]]:
    defined: dict[str, list[str]] = defaultdict(list)
    for path in sorted(TESTS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(target, ast.Attribute) and target.attr == "fixture":
                    defined[node.name].append(path.relative_to(TESTS).as_posix())
    return defined


def is_shared(place: str) -> bool:
    return place.startswith("support/") or place.endswith("conftest.py")


def test_a_shared_fixture_is_defined_once() -> None:
    defined = fixtures_by_name()
    assert defined["smoke"], "the scan found no smoke fixture: it is broken"
    assert defined["fleet"], "the scan found no fleet fixture: it is broken"
    twice = {
        name: places
        for name, places in defined.items()
        if len(places) > 1 and any(is_shared(place) for place in places)
    }
    assert twice == {}
