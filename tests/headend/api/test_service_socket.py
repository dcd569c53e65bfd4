"""The API's listening socket as ``headend run`` binds it."""

from __future__ import annotations

import socket

from headend.service import listen_socket


def test_the_api_socket_disables_nagle_on_every_accepted_connection() -> None:
    listener = listen_socket("127.0.0.1", 0)
    with listener, socket.create_connection(listener.getsockname()[:2]):
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
