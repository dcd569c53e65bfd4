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
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from headend import cli_demo, cli_read, cli_run, cli_simulate
from headend.cli_errors import CommandFailed, ExitCode, UsageProblem

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

COMMANDS: Sequence[Register] = (
    cli_read.register,
    cli_run.register,
    cli_simulate.register,
    cli_demo.register,
)
"""Subcommand registrations, in the order ``--help`` lists them."""

QUIET_LOGGERS = ("pymodbus",)
"""Third-party loggers that repeat, at warning level, failures the CLI already reports."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="headend",
        description="Smart-meter head-end: DL/T 645 and Modbus collection.",
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


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
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
    quiet = [logging.getLogger(name) for name in QUIET_LOGGERS] if verbose < 2 else []
    saved = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, old in zip(quiet, saved, strict=True):
            logger.setLevel(old)


if __name__ == "__main__":
    sys.exit(main())
