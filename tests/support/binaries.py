"""Real servers the tests start: a missing binary skips on a developer's machine, fails in CI.

`make test` installs every one of them, so in CI (CI=true) a missing binary means the install
step broke, and a silently skipped test would hide exactly that.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def require_binary(path: str | Path, package: str) -> Path:
    found = Path(path) if Path(path).is_absolute() else shutil.which(str(path))
    if found is not None and Path(found).exists():
        return Path(found)
    message = f"{path} is not installed (Debian package {package!r}; `make test` installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
