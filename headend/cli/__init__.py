"""The ``headend`` command: a small argparse dispatcher, one module per subcommand.

A subcommand module exposes ``register(commands)``, adds its parser there and sets
``handler`` (``Callable[[argparse.Namespace], int]``) and ``parser`` as parser defaults;
adding a subcommand is one module plus one line in ``COMMANDS``.

Handlers report expected failures by raising ``CommandFailed`` with an exit code; ``main``
prints the message on stderr and returns the code, so an engineer never sees a traceback for
a silent meter or a wrong port, and tests call ``main`` in-process.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

from headend.cli import (
    archive,
    control,
    decode,
    demo,
    export,
    healthcheck,
    line_loss,
    read,
    run,
    simulate,
)
from headend.cli.errors import CommandFailed, ExitCode, UsageProblem

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

COMMANDS: Sequence[Register] = (
    read.register,
    run.register,
    simulate.register,
    demo.register,
    healthcheck.register,
    control.register,
    decode.register,
    archive.register,
    line_loss.register,
    export.register,
)
"""Subcommand registrations, in the order ``--help`` lists them."""

QUIET_LOGGERS = {
    "pymodbus": logging.CRITICAL,
    "mqtt": logging.ERROR,
    "aiomqtt": logging.ERROR,
    "simulators.terminal.simulator.mqtt": logging.ERROR,
}
"""Levels below ``-vv`` of third-party loggers: pymodbus repeats, at warning level, failures the
CLI already reports, and aiomqtt (its default logger is ``mqtt``; the terminal simulator's client
has its own) warns on every publish while more than ten are pending, our normal load. The app
sets them here, never a library at import time, so a program embedding a module keeps its own
logging configuration."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="headend",
        description="Smart-meter head-end: DL/T 645 and Modbus collection.",
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="print the installed version and exit"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more (-v info, -vv debug, including third-party libraries)",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for register in COMMANDS:
        register(commands)
    parser.set_defaults(handler=None, parser=parser)
    return parser


class _VersionAction(argparse.Action):
    """``--version``; the version is looked up only when asked for (importlib.metadata is not
    free, and every ``headend read`` at a meter box would pay for it)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> NoReturn:
        print(f"{parser.prog} {installed_version()}")
        parser.exit()


def installed_version() -> str:
    """The version of the installed distribution (pyproject.toml's, for an editable install)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("headend")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, not at interpreter exit, so a closed pipe is caught below
    except BrokenPipeError:
        _discard_stdout()
        return ExitCode.BROKEN_PIPE
    return code


def _discard_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again and print
    'Exception ignored ... BrokenPipeError' (the recipe of the Python docs on SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # stdout is not a file (tests capturing output): nothing will flush into a pipe


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a bad argument (2)
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    if args.handler is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    command_parser: argparse.ArgumentParser = args.parser
    try:
        with _logging(args.verbose):
            return int(args.handler(args))
    except UsageProblem as exc:
        command_parser.print_usage(sys.stderr)
        print(f"{command_parser.prog}: error: {exc.message}", file=sys.stderr)
        return exc.code
    except CommandFailed as exc:
        print(f"{command_parser.prog}: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"{command_parser.prog}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED


@contextmanager
def _logging(verbose: int) -> Iterator[None]:
    """Configure logging for one command and put third-party levels back afterwards, so that
    calling ``main`` in-process (tests, other tools) leaves the host's logging as it was."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    quiet = QUIET_LOGGERS if verbose < 2 else {}
    saved = {name: logging.getLogger(name).level for name in quiet}
    for name, quiet_level in quiet.items():
        logging.getLogger(name).setLevel(quiet_level)
    try:
        yield
    finally:
        for name, old in saved.items():
            logging.getLogger(name).setLevel(old)


if __name__ == "__main__":
    sys.exit(main())
