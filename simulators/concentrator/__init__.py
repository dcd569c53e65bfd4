"""A simulated Q/GDW 1376.1 concentrator that dials in to the master station.

``store`` holds its meters' daily frozen values (what it read over its carrier), ``terminal``
is the TCP side: dial, log in, heartbeat, answer the master, reconnect after a drop.
"""

from simulators.concentrator.store import FrozenStore, StoreMeter, tariff_split
from simulators.concentrator.terminal import ConcentratorFaults, SimulatedConcentrator

__all__ = [
    "ConcentratorFaults",
    "FrozenStore",
    "SimulatedConcentrator",
    "StoreMeter",
    "tariff_split",
]
