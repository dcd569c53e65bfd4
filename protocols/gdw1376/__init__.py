"""Sans-IO Q/GDW 1376.1 codec (master station <-> concentrator / terminal).

Typical master use::

    decoder.feed(received)
    frame = decoder.next_frame()            # Frame: control, address, afn, seq, body, AUX
    units = parse_units(frame)              # DataUnit(point, item, values)
    transport.write(encode(confirm_all(frame)))
    transport.write(encode(read_daily(frame.address, [1], 161, day, seq=2)))

A terminal simulator uses the same pieces the other way round (``link_test``,
``build_body``).
"""

from __future__ import annotations

from protocols.gdw1376.address import Address
from protocols.gdw1376.aux import EventCounter, TimeLabel
from protocols.gdw1376.control import Control, PrimaryFunction, SecondaryFunction
from protocols.gdw1376.decoder import FrameDecoder, decode_frame
from protocols.gdw1376.errors import (
    ChecksumError,
    EncodeError,
    EndByteError,
    LengthFieldError,
    MalformedFrame,
    ShortUserData,
    UnexpectedMessage,
)
from protocols.gdw1376.frame import Frame, encode
from protocols.gdw1376.messages import (
    DataUnit,
    build_body,
    confirm_all,
    confirm_units,
    link_test,
    parse_units,
    port_command,
    query_archive,
    read_current,
    read_curve,
    read_daily,
    read_events,
    read_monthly,
    request,
    set_archive,
    sync_time,
)
from protocols.gdw1376.seq import Seq
from protocols.gdw1376.units import UnitId

__all__ = [
    "Address",
    "ChecksumError",
    "Control",
    "DataUnit",
    "EncodeError",
    "EndByteError",
    "EventCounter",
    "Frame",
    "FrameDecoder",
    "LengthFieldError",
    "MalformedFrame",
    "PrimaryFunction",
    "SecondaryFunction",
    "Seq",
    "ShortUserData",
    "TimeLabel",
    "UnexpectedMessage",
    "UnitId",
    "build_body",
    "confirm_all",
    "confirm_units",
    "decode_frame",
    "encode",
    "link_test",
    "parse_units",
    "port_command",
    "query_archive",
    "read_current",
    "read_curve",
    "read_daily",
    "read_events",
    "read_monthly",
    "request",
    "set_archive",
    "sync_time",
]
