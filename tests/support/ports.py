"""Loopback port helpers for tests that start real servers."""

from __future__ import annotations

import socket


def free_tcp_port() -> int:
    """Ask the kernel for an unused loopback port; the caller binds it right away."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
