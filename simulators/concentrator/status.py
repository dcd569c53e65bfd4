"""AFN 0C F11, the terminal's own reading status per port, from what its store holds.

A concentrator says per port how many meters it has, how many it read today, and when its
round started and ended: the master shows it next to its own completeness, so an operator sees
whether a gap is the terminal's (it could not read the meter) or the master's (it did not get
the value). The simulated one reads its meters over the carrier (port 31) just after midnight;
``unreachable`` points are the ones it failed on.
"""

from __future__ import annotations

from datetime import datetime, time

from protocols.gdw1376.messages import UnitSpec
from simulators.concentrator.store import FrozenStore

CARRIER_PORT = 31
"""The port number a concentrator gives its carrier (HPLC) meters."""
ROUND_DONE = 0x02
"""Status D1: today's reading round is finished (D0 would be: reading now)."""


def reading_status(store: FrozenStore, now: datetime) -> UnitSpec:
    meters = len(store.meters)
    read = len([point for point in store.meters if point not in store.unreachable])
    started = datetime.combine(now.date(), time(0, 1))
    finished = datetime.combine(now.date(), time(0, 5))
    port = {
        "port": CARRIER_PORT,
        "meters": meters,
        "status": ROUND_DONE,
        "read_ok": read,
        "key_read_ok": min(read, 255),
        "started": started,
        "finished": finished,
    }
    return (0, 11, {"count": 1, "ports": [port]})
