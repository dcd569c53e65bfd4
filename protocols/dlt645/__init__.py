"""Sans-IO DL/T 645-2007 / -1997 codec: frames, stream decoder, messages, data catalogue.

Typical head-end use::

    frame = ReadRequest(Address.parse("123456789012"), 0x00010000).to_frame()
    transport.write(encode(frame))
    decoder.feed(received)
    reply = parse_response(decoder.next_frame())
    value = decode_value(reply.di, reply.payload)

The simulator uses the same pieces the other way round: ``parse_request`` and
``encode_value`` + ``ReadResponse(...).to_frame()``.
"""

from __future__ import annotations

from protocols.dlt645.address import Address
from protocols.dlt645.catalogue import (
    Catalogue,
    DataItem,
    Decoded,
    catalogue,
    decode_value,
    encode_value,
)
from protocols.dlt645.control import Control, Function, Standard
from protocols.dlt645.decoder import FrameDecoder
from protocols.dlt645.error_word import ErrorWord, ErrorWord1997
from protocols.dlt645.errors import (
    AddressFieldError,
    CatalogueError,
    ChecksumError,
    EncodeError,
    EndByteError,
    InvalidAddress,
    LengthError,
    MalformedFrame,
    UnexpectedMessage,
    UnknownIdentifier,
    UnsupportedFunction,
)
from protocols.dlt645.frame import Frame, encode
from protocols.dlt645.messages import (
    AckResponse,
    ChangeBaudRequest,
    ErrorResponse,
    FreezeRequest,
    Message,
    ReadAddressRequest,
    ReadAddressResponse,
    ReadFollowUpRequest,
    ReadRequest,
    ReadResponse,
    RelayAction,
    RelayControlRequest,
    Request,
    Response,
    TimeSyncRequest,
    WriteAddressRequest,
    WriteRequest,
    parse_request,
    parse_response,
    read_request,
    read_response,
)
from protocols.dlt645.values import NotAvailable, Value

__all__ = [
    "AckResponse",
    "Address",
    "AddressFieldError",
    "Catalogue",
    "CatalogueError",
    "ChangeBaudRequest",
    "ChecksumError",
    "Control",
    "DataItem",
    "Decoded",
    "EncodeError",
    "EndByteError",
    "ErrorResponse",
    "ErrorWord",
    "ErrorWord1997",
    "Frame",
    "FrameDecoder",
    "FreezeRequest",
    "Function",
    "InvalidAddress",
    "LengthError",
    "MalformedFrame",
    "Message",
    "NotAvailable",
    "ReadAddressRequest",
    "ReadAddressResponse",
    "ReadFollowUpRequest",
    "ReadRequest",
    "ReadResponse",
    "RelayAction",
    "RelayControlRequest",
    "Request",
    "Response",
    "Standard",
    "TimeSyncRequest",
    "UnexpectedMessage",
    "UnknownIdentifier",
    "UnsupportedFunction",
    "Value",
    "WriteAddressRequest",
    "WriteRequest",
    "catalogue",
    "decode_value",
    "encode",
    "encode_value",
    "parse_request",
    "parse_response",
    "read_request",
    "read_response",
]
