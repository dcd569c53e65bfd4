"""One exception root per package, its tree documented, and no code reading fields out of messages.

docs/errors.md and the docstring of each package's errors module draw the tree; these tests keep
them whole: every exception class defined anywhere in a package derives from that package's
root and is named in both places, and no module finds a field by cutting up an error's text
(it asks the error's attributes: ``key``, ``meter``, ``reason``, ...).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

from headend.errors import HeadendError
from protocols.errors import ProtocolError
from simulators.errors import SimulatorError
from storage.errors import StorageError
from transports.errors import TransportError

ROOT = Path(__file__).resolve().parents[1]
ROOTS: dict[str, type[Exception]] = {
    "headend": HeadendError,
    "protocols": ProtocolError,
    "storage": StorageError,
    "transports": TransportError,
    "simulators": SimulatorError,
}

PARSING_ALLOWED = {
    ("headend/drivers/modbus/adapter.py", '"No response" not in str(exc)'): (
        "pymodbus 3.16 raises the same ModbusIOException type, with the same fields, for a "
        "request nobody answered and for a reply that does not fit; only its text tells them apart"
    ),
}
"""Message checks that read a third-party library's text, where it has no type or field to ask."""

_STRING_METHODS = frozenset(dir(str)) - frozenset(dir(object))


def _modules(package: str) -> list[ModuleType]:
    """Every module of ``package``, imported (``__main__`` would run the CLI)."""
    top = importlib.import_module(package)
    names = [package] + [
        info.name
        for info in pkgutil.walk_packages(top.__path__, f"{package}.")
        if not info.name.endswith(".__main__")
    ]
    return [importlib.import_module(name) for name in names]


def _exceptions_defined(package: str) -> list[type[BaseException]]:
    found = []
    for module in _modules(package):
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


@pytest.mark.parametrize("package", sorted(ROOTS))
def test_every_exception_class_of_a_package_derives_from_its_root(package: str) -> None:
    root = ROOTS[package]
    classes = _exceptions_defined(package)
    assert root in classes
    strays = [f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, root)]
    assert not strays, f"not under {root.__name__}: {strays}"


@pytest.mark.parametrize("package", sorted(ROOTS))
def test_a_root_is_an_exception_of_its_own(package: str) -> None:
    """One ``except`` catches one package's failures, and never another package's."""
    root = ROOTS[package]
    assert root.__bases__ == (Exception,)
    assert root.__module__ == f"{package}.errors"


@pytest.mark.parametrize("package", sorted(ROOTS))
def test_the_root_module_docstring_draws_every_class(package: str) -> None:
    tree = importlib.import_module(f"{package}.errors").__doc__ or ""
    missing = [c.__name__ for c in _exceptions_defined(package) if c.__name__ not in tree]
    assert not missing, f"{package}/errors.py does not draw {missing}"


def test_docs_errors_names_every_class() -> None:
    text = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    missing = [
        f"{package}: {c.__name__}"
        for package in sorted(ROOTS)
        for c in _exceptions_defined(package)
        if f"`{c.__name__}`" not in text
    ]
    assert not missing, f"docs/errors.md does not name {missing}"


def _is_str_of(node: ast.AST, names: set[str]) -> bool:
    """``str(exc)`` or ``f"{exc}"`` for a caught exception ``exc``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "str":
        arg = node.args[0] if len(node.args) == 1 else None
        return isinstance(arg, ast.Name) and arg.id in names
    if isinstance(node, ast.JoinedStr) and len(node.values) == 1:
        [part] = node.values
        value = part.value if isinstance(part, ast.FormattedValue) else None
        return isinstance(value, ast.Name) and value.id in names
    return False


def message_parsing(source: str) -> list[str]:
    """Places where code reads an error's text for a field: ``str(exc)`` sliced, indexed,
    searched or cut with a string method, or an exception's ``args`` indexed."""
    tree = ast.parse(source)
    caught = {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ExceptHandler) and node.name is not None
    }
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            is_args = isinstance(node.value, ast.Attribute) and node.value.attr == "args"
            if is_args or _is_str_of(node.value, caught):
                found.append(node)
        elif isinstance(node, ast.Attribute) and node.attr in _STRING_METHODS:
            if _is_str_of(node.value, caught):
                found.append(node)
        elif isinstance(node, ast.Compare):
            if any(isinstance(op, ast.In | ast.NotIn) for op in node.ops) and any(
                _is_str_of(side, caught) for side in node.comparators
            ):
                found.append(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            is_re = isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
            if is_re and any(_is_str_of(arg, caught) for arg in node.args):
                found.append(node)
    return [ast.get_source_segment(source, node) or ast.dump(node) for node in found]


@pytest.mark.parametrize(
    "snippet",
    [
        "try: f()\nexcept E as exc: k = str(exc).removeprefix('meter m1: ')",
        "try: f()\nexcept E as exc: k = str(exc).split(': ')[1]",
        "try: f()\nexcept E as exc: k = str(exc)[:12]",
        "try: f()\nexcept E as exc: k = f'{exc}'.partition(':')[0]",
        "try: f()\nexcept E as exc: k = 'timeout' in str(exc)",
        "try: f()\nexcept E as exc: k = re.match(r'meter (\\w+)', str(exc))",
        "try: f()\nexcept E as exc: k = exc.args[0]",
    ],
)
def test_the_parsing_check_sees_text_cut_up(snippet: str) -> None:
    assert message_parsing(snippet)


def test_the_parsing_check_lets_messages_pass_through() -> None:
    """Passing the text on whole (into another error, a log, a response) is not parsing."""
    snippet = (
        "try: f()\n"
        "except E as exc:\n"
        "    log.warning('%s', exc)\n"
        "    raise Other(exc.key, str(exc), f'while reading: {exc}') from None\n"
    )
    assert message_parsing(snippet) == []


def test_no_code_parses_an_error_message() -> None:
    found = []
    for package in sorted(ROOTS):
        for path in sorted((ROOT / package).rglob("*.py")):
            where = path.relative_to(ROOT).as_posix()
            for segment in message_parsing(path.read_text(encoding="utf-8")):
                if (where, segment) not in PARSING_ALLOWED:
                    found.append(f"{where}: {segment}")
    assert not found, "give the error a field instead: " + "; ".join(found)


def test_every_allowed_parsing_site_still_exists() -> None:
    """An allowance whose code is gone would silently cover the next one written there."""
    for where, segment in PARSING_ALLOWED:
        assert segment in message_parsing((ROOT / where).read_text(encoding="utf-8"))
