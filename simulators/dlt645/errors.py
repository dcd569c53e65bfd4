"""Errors of the DL/T 645 simulator, split by who is to blame.

``SimulatorConfigError`` is our own bad setup (a meter address twice on a bus, a reply delay
outside the standard): fix the configuration. ``MasterProtocolError`` is the head-end under
test sending something a meter cannot act on; the simulator logs it and stays silent or
answers with an error word, as a real meter would, so it is rarely raised out of a bus.
"""

from __future__ import annotations

from simulators.errors import SimulatorError

__all__ = ["MasterProtocolError", "SimulatorConfigError", "SimulatorError"]


class SimulatorConfigError(SimulatorError, ValueError):
    """The simulator was configured with something impossible; the message names the setting."""


class MasterProtocolError(SimulatorError):
    """The master (the head-end under test) broke the protocol in a way a meter cannot answer."""
