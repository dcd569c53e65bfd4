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


def imported_test_modules(path: Path) -> list[str]:
    """The ``test_*`` modules of this project that ``path`` imports (at any depth of its code)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [
            name
            for name in names
            if name.startswith("tests.") and name.rpartition(".")[2].startswith("test_")
        ]
    return found


def test_no_test_module_imports_another_test_module() -> None:
    """Shared rigs and helpers live in tests/support/ or a folder's helper module: a test module
    imported by another runs (and is edited) as a test, and its fixtures leak by import."""
    offenders = {
        path.relative_to(TESTS).as_posix(): imported
        for path in sorted(TESTS.rglob("*.py"))
        if (imported := imported_test_modules(path))
    }
    assert offenders == {}


def test_the_import_scan_sees_a_test_module_imported(tmp_path: Path) -> None:
    module = tmp_path / "test_example.py"
    module.write_text(
        "from tests.headend.engine.test_dlt645 import M1\n"
        "from tests.support.engine_rig import M2\n"
        "def later() -> None:\n"
        "    import tests.storage.test_outbox\n"
        "    from tests.storage import test_embedded\n"
    )
    assert imported_test_modules(module) == [
        "tests.headend.engine.test_dlt645",
        "tests.storage.test_outbox",
        "tests.storage.test_embedded",
    ]
