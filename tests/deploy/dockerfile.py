"""Just enough Dockerfile and .dockerignore reading to check the image without building it."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str
    arguments: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form CMD/ENTRYPOINT (or of HEALTHCHECK's CMD)."""
        text = self.arguments
        if self.keyword == "HEALTHCHECK":
            _options, sep, text = text.partition(" CMD ")
            if not sep:
                raise ValueError(f"line {self.line}: HEALTHCHECK without CMD")
        parsed = json.loads(text)
        if not isinstance(parsed, list) or not all(isinstance(part, str) for part in parsed):
            raise ValueError(f"line {self.line}: {self.keyword} is not an exec-form JSON array")
        return parsed


def read_instructions(path: Path) -> list[Instruction]:
    """Instructions with backslash continuations joined and comments dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        text = " ".join(part for part in pending if part)
        pending = []
        keyword, _, arguments = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip(), start))
    if pending:
        raise ValueError(f"{path}: line {start}: continuation runs past the end of the file")
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """Instructions grouped by build stage (each starts with FROM)."""
    grouped: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            grouped.append([])
        if not grouped:
            raise ValueError(f"line {instruction.line}: {instruction.keyword} before FROM")
        grouped[-1].append(instruction)
    return grouped


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore ``patterns`` exclude ``relative``: the last matching rule wins.

    A rule matches a path or any of its parent directories, as in Docker's own matcher.
    """
    parts = relative.strip("/").split("/")
    prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        body = body.strip("/")
        if body.startswith("**/"):
            matched = any(fnmatch.fnmatchcase(part, body[3:]) for part in parts)
        else:
            matched = any(fnmatch.fnmatchcase(prefix, body) for prefix in prefixes)
        if matched:
            excluded = not negated
    return excluded


def read_dockerignore(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]
