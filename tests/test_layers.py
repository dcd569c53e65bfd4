"""The dependency rule of docs/architecture.md, checked on the real import graph.

The contracts live in pyproject.toml (``[tool.importlinter]``); this runs them so that a plain
``pytest`` catches an import that points upward, not only ``make lint``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDLERS_THAT_START_SIMULATORS = ("headend/cli/simulate.py", "headend/cli/demo.py")


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def _runtime_module_level_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """Imports that run when the module is imported: top level, outside ``if TYPE_CHECKING``."""
    found: list[tuple[int, str]] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.If):
            is_type_checking = isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
            if not is_type_checking:
                pending.extend(node.body)
            pending.extend(node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend([*node.body, *node.orelse, *node.finalbody])
            for handler in node.handlers:
                pending.extend(handler.body)
        elif isinstance(node, ast.With):
            pending.extend(node.body)
    return found


def test_cli_imports_simulators_only_inside_its_handlers() -> None:
    """Importing ``headend.cli`` must not load the simulators: only running them does."""
    for name in HANDLERS_THAT_START_SIMULATORS:
        path = ROOT / name
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        upfront = [
            f"{name}:{line}: {module}"
            for line, module in _runtime_module_level_imports(tree)
            if module == "simulators" or module.startswith("simulators.")
        ]
        assert not upfront, f"module-level simulator imports: {upfront}"


def test_importing_the_simulators_loads_no_headend_module() -> None:
    code = (
        "import sys, simulators.runner, simulators.dlt645, simulators.modbus;"
        "print(sorted(m for m in sys.modules if m == 'headend' or m.startswith('headend.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_headend_top_level_stays_small() -> None:
    """A newcomer finds the head-end's parts by their package names (docs/architecture.md),
    not in a flat list of modules."""
    top = sorted(p.name for p in (ROOT / "headend").glob("*.py"))
    assert len(top) <= 12, top


def test_the_dlt645_simulators_do_not_load_pyserial() -> None:
    """Only opening a serial port needs pyserial (transports.serial_port); the Modbus simulator
    still loads it, through pymodbus's own server."""
    code = (
        "import sys, simulators.runner, simulators.dlt645, transports;"
        "print(sorted(m for m in sys.modules if m == 'serial' or m.startswith('serial')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_drivers_import_nothing_of_config_not_even_for_types() -> None:
    """Config sits above the drivers and asks them what a meter needs; the drivers take the
    settings as structural types (headend/drivers/settings.py). The contract ignores imports
    under ``TYPE_CHECKING``, so this checks every import statement in the drivers."""
    upward = ("headend.config", "headend.collection", "headend.commands", "headend.engine")
    found = []
    for path in sorted((ROOT / "headend" / "drivers").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
                for name in names
                if name.startswith(upward)
            ]
    assert not found, found
