"""AFN 10 F1 transparent forwarding: a DL/T 645 frame carried to a meter behind the terminal.

The downlink unit wraps the meter frame in the terminal's port, the line settings (control
word: baud, stop bits, parity, data bits) and two timeouts; the uplink unit returns the
meter's reply after the port and a length. The inner frame is DL/T 645's, decoded by
``protocols.dlt645`` so every DL/T 645 read and control works through a concentrator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocols.dlt645 import Frame as MeterFrame
from protocols.dlt645 import FrameDecoder as MeterDecoder
from protocols.dlt645 import encode as encode_meter_frame
from protocols.dlt645.errors import MalformedFrame as MeterFrameError
from protocols.gdw1376.address import Address
from protocols.gdw1376.aux import TimeLabel
from protocols.gdw1376.errors import EncodeError, UnexpectedMessage
from protocols.gdw1376.frame import Frame
from protocols.gdw1376.messages import request

BAUDS = (300, 600, 1200, 2400, 4800, 7200, 9600, 19200)


@dataclass(frozen=True, slots=True)
class LineSettings:
    baud: int = 2400
    stop_bits: int = 1
    parity: str = "even"
    """``none``, ``even`` or ``odd``."""
    data_bits: int = 8

    def to_byte(self) -> int:
        if self.baud not in BAUDS or self.stop_bits not in (1, 2) or not 5 <= self.data_bits <= 8:
            raise EncodeError(f"line settings {self}: not a forwarding control word")
        parity = {"none": 0b00, "even": 0b10, "odd": 0b11}[self.parity]
        return (
            BAUDS.index(self.baud) << 5
            | (self.stop_bits - 1) << 4
            | parity << 2
            | (self.data_bits - 5)
        )

    @classmethod
    def from_byte(cls, byte: int) -> LineSettings:
        parity = "none" if not byte & 0x08 else ("odd" if byte & 0x04 else "even")
        return cls(BAUDS[byte >> 5], (byte >> 4 & 1) + 1, parity, (byte & 0x03) + 5)


def frame_timeout_byte(seconds: float) -> int:
    """The 'wait for the reply' byte: D7 set counts seconds, clear counts 10 ms (0..127)."""
    if seconds <= 1.27:
        return round(seconds * 100)
    if seconds <= 127:
        return 0x80 | round(seconds)
    raise EncodeError(f"forwarding timeout {seconds} s: at most 127 s")


def frame_timeout_seconds(byte: int) -> float:
    return (byte & 0x7F) * (1.0 if byte & 0x80 else 0.01)


def forward(
    terminal: Address,
    port: int,
    meter_frame: MeterFrame,
    *,
    seq: int,
    line: LineSettings = LineSettings(),
    timeout_s: float = 5.0,
    byte_timeout_ms: int = 100,
    tp: TimeLabel | None = None,
) -> Frame:
    """AFN 10 F1: send ``meter_frame`` out of ``port`` of the terminal."""
    inner = encode_meter_frame(meter_frame, preamble=0)
    values = forward_values(
        port, inner, line=line, timeout_s=timeout_s, byte_timeout_ms=byte_timeout_ms
    )
    return request(terminal, 0x10, [(0, 1, values)], seq=seq, tp=tp)


def forward_values(
    port: int,
    inner: bytes,
    *,
    line: LineSettings = LineSettings(),
    timeout_s: float = 5.0,
    byte_timeout_ms: int = 100,
) -> dict[str, Any]:
    """The values of the downlink AFN 10 F1 unit carrying the encoded meter frame ``inner``
    (for a master whose session layer numbers and frames the request itself)."""
    return {
        "port": port,
        "line_control": line.to_byte(),
        "frame_timeout": frame_timeout_byte(timeout_s),
        "byte_timeout_10ms": byte_timeout_ms // 10,
        "length": len(inner),
        "frame": inner,
    }


def inner_frame(content: bytes) -> MeterFrame:
    """The DL/T 645 frame inside a forwarding unit (FE preambles allowed)."""
    decoder = MeterDecoder()
    decoder.feed(content)
    try:
        frame = decoder.next_frame()
    except MeterFrameError as exc:
        raise UnexpectedMessage(f"AFN 10H F1: the forwarded frame: {exc}") from None
    if frame is None:
        raise UnexpectedMessage(f"AFN 10H F1: no DL/T 645 frame in {content.hex(' ')}")
    return frame
