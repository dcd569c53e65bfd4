"""MQTT 5 PUBLISH packets at QoS 0 and PUBACKs, encoded many at once (sans-IO: bytes out).

Every stored reading is re-published on its own topic (``readings/<meter>/<quantity>``): 15 a
terminal message. paho has no batch publish: each message costs a ``publish`` call, a packet of
its own, one ``socket.send`` and, once written, a ReasonCode and Properties built only to call
back. The bridge encodes a backlog here into one buffer that paho writes as one packet entry,
so the wire carries exactly the packets paho would have sent (the layout of paho's
``_send_publish`` for QoS 0 without properties), with one send for them all.

Acknowledgements go the same way: ``paho.ack`` per telemetry message meant a packet entry and a
``socket.send`` each, and each send woke the broker for two bytes. ``append_puback`` writes
paho's own PUBACK (``_send_command_with_mid``: success, no reason code and no properties, which
MQTT 5 allows as a remaining length of 2).
"""

from __future__ import annotations

from typing import Final

PUBLISH: Final = 0x30
PUBACK: Final = 0x40
MAX_REMAINING: Final = 268_435_455
"""The largest remaining length MQTT can encode (four length bytes)."""
_NO_PROPERTIES: Final = b"\x00"


def publishable(topic: str) -> bool:
    """A topic this encoder takes: non-empty, no wildcards, short enough. Anything else is
    published through paho, which refuses it as it always did."""
    return bool(topic) and "+" not in topic and "#" not in topic and "\x00" not in topic


def append_publish(buffer: bytearray, topic: str, payload: bytes) -> None:
    """Append one QoS 0 PUBLISH (no retain, no properties) for ``topic`` to ``buffer``.

    Raises ``ValueError`` for a topic longer than 65,535 bytes or a packet too large, before
    anything is appended."""
    name = topic.encode()
    if len(name) > 0xFFFF:
        raise ValueError(f"topic {topic[:40]!r}...: longer than 65535 bytes")
    remaining = 2 + len(name) + len(_NO_PROPERTIES) + len(payload)
    if remaining > MAX_REMAINING:
        raise ValueError(f"topic {topic!r}: packet too large ({remaining} bytes)")
    buffer.append(PUBLISH)
    while True:
        byte = remaining & 0x7F
        remaining >>= 7
        if remaining:
            buffer.append(byte | 0x80)
        else:
            buffer.append(byte)
            break
    buffer += len(name).to_bytes(2, "big")
    buffer += name
    buffer += _NO_PROPERTIES
    buffer += payload


def append_puback(buffer: bytearray, mid: int) -> None:
    """Append the PUBACK of packet id ``mid`` (1..65535) to ``buffer``."""
    if not 0 < mid <= 0xFFFF:
        raise ValueError(f"packet id {mid}: not within 1..65535")
    buffer.append(PUBACK)
    buffer.append(2)
    buffer += mid.to_bytes(2, "big")
