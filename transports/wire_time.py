"""How long bytes occupy a serial line.

Simulators pace replies with it (ptys ignore baud, so nothing else will), bus workers size
their turnaround gaps and timeouts with it, and benchmarks compare throughput to the line's
ceiling.
"""

from __future__ import annotations

from transports.settings import SerialSettings


def wire_time(n_bytes: int, settings: SerialSettings) -> float:
    """Seconds that ``n_bytes`` back-to-back characters take on the line described by settings.

    A 20-byte DL/T 645 request at 2400 bps 8E1 is 20 * 11 / 2400 = 91.7 ms.
    """
    if n_bytes < 0:
        raise ValueError(f"wire_time: n_bytes must be >= 0, got {n_bytes}")
    return n_bytes * settings.char_time
