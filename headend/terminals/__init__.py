"""The master station's dial-in side: terminals (concentrators) connect to us and stay.

A dialled bus (``headend.bus``) is ours to open; a terminal opens the connection itself,
logs in with its address, and the head-end sends it requests on that connection while it
lasts. ``server`` holds the sessions, ``errors`` the ways a request to a terminal fails.
"""

from headend.terminals.errors import TerminalOffline, TerminalRequestFailed
from headend.terminals.server import ServerCounters, TerminalServer, TerminalSession

__all__ = [
    "ServerCounters",
    "TerminalOffline",
    "TerminalRequestFailed",
    "TerminalServer",
    "TerminalSession",
]
