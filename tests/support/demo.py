"""Starting ``headend demo`` as a child process the way a user does, up to its dashboard line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

HEADEND = Path(sys.executable).with_name("headend")


def start_demo(args: Sequence[str], data_dir: Path) -> tuple[subprocess.Popen[str], list[str]]:
    """The running demo and its stdout lines up to and including ``dashboard: URL#token=T``
    (read as printed: the wait is for the line itself, no sleeps)."""
    process = subprocess.Popen(
        [str(HEADEND), "demo", *args, "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("dashboard: "):
            break
    return process, lines


def dashboard(lines: Sequence[str]) -> tuple[str, str]:
    """The URL and the token of the demo's last printed line."""
    url, _, token = lines[-1].removeprefix("dashboard: ").strip().partition("#token=")
    return url, token
