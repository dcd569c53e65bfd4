"""How long ``headend`` takes to start, as a ratio to a bare ``python -c pass`` in the same run.

An engineer at a meter box runs ``headend read`` dozens of times; it used to spend 2 s importing
numpy, FastAPI, uvicorn, the storage clients and pymodbus before looking at its arguments.
Rounds interleave the variants so a busy neighbour slows all of them alike; each figure is the
median of per-round ratios, with the lowest and highest ratio as the spread. The goal is the
issue's absolute one, under 0.5 s, judged on the median wall time of this run.

    .venv/bin/python bench/bench_cli_startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROUNDS = 15
GOAL_S = 0.5
SCRIPT = Path(sys.executable).parent / "headend"
VARIANTS: dict[str, Sequence[str]] = {
    "read_dlt645_help": (str(SCRIPT), "read", "dlt645", "--help"),
    "version": (str(SCRIPT), "--version"),
    "list_quantities": (str(SCRIPT), "read", "--list-quantities"),
}
BARE = (sys.executable, "-c", "pass")


def wall_time(argv: Sequence[str]) -> float:
    began = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - began


def main() -> None:
    bare: list[float] = []
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    wall_time(BARE)  # warm the page cache for the interpreter and the venv
    for argv in VARIANTS.values():
        wall_time(argv)
    for _ in range(ROUNDS):
        bare.append(wall_time(BARE))
        for name, argv in VARIANTS.items():
            times[name].append(wall_time(argv))
    print(
        f"cli start-up, {ROUNDS} interleaved rounds, bare python median "
        f"{statistics.median(bare) * 1000:.0f} ms"
    )
    verdicts = []
    for name, measured in times.items():
        ratios = [t / b for t, b in zip(measured, bare, strict=True)]
        median_s = statistics.median(measured)
        verdicts.append(median_s < GOAL_S)
        print(
            f"  {name:<18} median {median_s * 1000:6.0f} ms  "
            f"ratio {statistics.median(ratios):5.1f}x ({min(ratios):.1f}-{max(ratios):.1f})"
        )
    ratios = [t / b for t, b in zip(times["read_dlt645_help"], bare, strict=True)]
    verdict = "PASS" if all(verdicts) else "FAIL"
    print(
        f"cli_startup: {statistics.median(ratios):.1f}x ({min(ratios):.1f}-{max(ratios):.1f}) "
        f"goal every command < {GOAL_S} s {verdict}"
    )


if __name__ == "__main__":
    main()
