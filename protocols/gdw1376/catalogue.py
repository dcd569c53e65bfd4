"""Which data units the codec reads: (AFN, Fn, direction) -> the layout of one unit's data.

From Q/GDW 1376.1-2013 chapter 5, for the services a master station of concentrators needs
(docs/gdw1376.md lists them). A unit not listed here is kept as raw bytes by ``messages``;
since its length is then unknown, it must be the last unit of its frame.
"""

from __future__ import annotations

from protocols.gdw1376.events import read_records
from protocols.gdw1376.layout import Content, Field, Layout, Repeat, Special, values_of

UP, DOWN = True, False

AFN_NAMES = {
    0x00: "confirm/deny",
    0x01: "reset",
    0x02: "link test",
    0x04: "set parameters",
    0x05: "control",
    0x0A: "query parameters",
    0x0C: "class 1 data (current)",
    0x0D: "class 2 data (history)",
    0x0E: "class 3 data (events)",
    0x10: "data forwarding",
}

_READ_TIME = Field("read_time", "A.15")
_TARIFFS = Field("tariffs", "bin1")
_TD_D = Field("td_d", "A.20")
_TD_M = Field("td_m", "A.21")
_TD_C: Layout = (
    Field("td_c_start", "A.15"),
    Field("td_c_density", "bin1"),
    Field("td_c_points", "bin1"),
)


def _energy(*names_and_formats: tuple[str, str]) -> Layout:
    return (
        _READ_TIME,
        _TARIFFS,
        *(values_of(fmt, name, "tariffs", plus=1) for name, fmt in names_and_formats),
    )


_FORWARD_4 = (
    ("forward_active", "A.14"),
    ("forward_reactive", "A.11"),
    ("q1_reactive", "A.11"),
    ("q4_reactive", "A.11"),
)
_REVERSE_4 = (
    ("reverse_active", "A.14"),
    ("reverse_reactive", "A.11"),
    ("q2_reactive", "A.11"),
    ("q3_reactive", "A.11"),
)

_UPLINK_PARAMETERS: Layout = (
    Field("rts_20ms", "bin1"),
    Field("master_delay_minutes", "bin1"),
    Field("timeout_and_retries", "bin2"),
    Field("confirm_flags", "bs8"),
    Field("heartbeat_minutes", "bin1"),
)
_MASTER_ADDRESS: Layout = (
    Field("primary_ip", "ipv4"),
    Field("primary_port", "bin2"),
    Field("backup_ip", "ipv4"),
    Field("backup_port", "bin2"),
    Field("apn", "ascii16"),
)
_METER_RECORD: Layout = (
    Field("seq", "bin2"),
    Field("point", "bin2"),
    Field("baud_and_port", "bs8"),
    Field("protocol", "bin1"),
    Field("address", "A.12"),
    Field("password", "raw6"),
    Field("tariffs", "bs8"),
    Field("digits", "bs8"),
    Field("collector", "A.12"),
    Field("user_class", "bs8"),
)
_ARCHIVE: Layout = (Field("count", "bin2"), Repeat("meters", "count", _METER_RECORD))
_PORT: Layout = (Field("port", "bin1"),)

_PHASES = ("", "_a", "_b", "_c")
_F25: Layout = (
    _READ_TIME,
    *(Field(f"active_power{p}", "A.9") for p in _PHASES),
    *(Field(f"reactive_power{p}", "A.9") for p in _PHASES),
    *(Field(f"power_factor{p}", "A.5") for p in _PHASES),
    *(Field(f"voltage{p}", "A.7") for p in _PHASES[1:]),
    *(Field(f"current{p}", "A.25") for p in _PHASES[1:]),
    Field("current_zero_sequence", "A.25"),
    *(Field(f"apparent_power{p}", "A.9") for p in _PHASES),
)

_CURVE_FORMATS = {
    **dict.fromkeys(range(81, 89), "A.9"),
    **dict.fromkeys(range(89, 92), "A.7"),
    **dict.fromkeys(range(92, 96), "A.25"),
    **dict.fromkeys(range(97, 101), "A.13"),
    **dict.fromkeys(range(101, 105), "A.11"),
    **dict.fromkeys(range(105, 109), "A.5"),
}
"""0D F81..F108: power (A.9), voltage (A.7), current (A.25), energy (A.13), readings (A.11)
and power factor (A.5) curves, n points from Td_c."""

LAYOUTS: dict[tuple[int, int, bool], Layout] = {
    # AFN 00 confirm / deny, either direction
    **{(0x00, fn, d): () for fn in (1, 2) for d in (UP, DOWN)},
    **{
        (0x00, 3, d): (
            Field("afn", "bin1"),
            Repeat("units", None, (Field("unit", "unit_id"), Field("error", "bin1"))),
        )
        for d in (UP, DOWN)
    },
    # AFN 01 reset: F1 hardware, F2 data, F3 parameters and data, F4 all but communication
    **{(0x01, fn, DOWN): () for fn in (1, 2, 3, 4)},
    # AFN 02 link test: login, logout, heartbeat (the 2013 heartbeat may carry the clock)
    (0x02, 1, UP): (),
    (0x02, 2, UP): (),
    (0x02, 3, UP): (Field("clock", "A.1", optional=True),),
    # AFN 04 set parameters, AFN 0A their read-back
    (0x04, 1, DOWN): _UPLINK_PARAMETERS,
    (0x04, 3, DOWN): _MASTER_ADDRESS,
    (0x04, 10, DOWN): _ARCHIVE,
    (0x0A, 1, DOWN): (),
    (0x0A, 3, DOWN): (),
    (0x0A, 10, DOWN): (Field("count", "bin2"), values_of("bin2", "seqs", "count")),
    (0x0A, 1, UP): _UPLINK_PARAMETERS,
    (0x0A, 3, UP): _MASTER_ADDRESS,
    (0x0A, 10, UP): _ARCHIVE,
    # AFN 05 control
    (0x05, 1, DOWN): (Field("trip_control", "bs8"),),
    (0x05, 2, DOWN): (),
    (0x05, 31, DOWN): (Field("time", "A.1"),),
    **{(0x05, fn, DOWN): _PORT for fn in (49, 50, 51)},
    # AFN 0C current data
    **{(0x0C, fn, DOWN): () for fn in (2, 11, 25, 33, 34, 129, 161)},
    (0x0C, 2, UP): (Field("clock", "A.1"),),
    (0x0C, 11, UP): (
        Field("count", "bin1"),
        Repeat(
            "ports",
            "count",
            (
                Field("port", "bin1"),
                Field("meters", "bin2"),
                Field("status", "bs8"),
                Field("read_ok", "bin2"),
                Field("key_read_ok", "bin1"),
                Field("started", "A.1"),
                Field("finished", "A.1"),
            ),
        ),
    ),
    (0x0C, 25, UP): _F25,
    (0x0C, 33, UP): _energy(*_FORWARD_4),
    (0x0C, 34, UP): _energy(*_REVERSE_4),
    (0x0C, 129, UP): _energy(("forward_active", "A.14")),
    (0x0C, 161, UP): (
        _READ_TIME,
        Field("switch_state", "bin1"),
        Field("last_close", "A.1"),
        Field("last_trip", "A.1"),
    ),
    # AFN 0D history by date (Td_d), month (Td_m) or curve window (Td_c)
    **{(0x0D, fn, DOWN): (_TD_D,) for fn in (1, 2, 161, 163)},
    **{(0x0D, fn, DOWN): (_TD_M,) for fn in (17, 18, 177)},
    (0x0D, 1, UP): (_TD_D, *_energy(*_FORWARD_4)),
    (0x0D, 2, UP): (_TD_D, *_energy(*_REVERSE_4)),
    (0x0D, 17, UP): (_TD_M, *_energy(*_FORWARD_4)),
    (0x0D, 18, UP): (_TD_M, *_energy(*_REVERSE_4)),
    (0x0D, 161, UP): (_TD_D, *_energy(("forward_active", "A.14"))),
    (0x0D, 163, UP): (_TD_D, *_energy(("reverse_active", "A.14"))),
    (0x0D, 177, UP): (_TD_M, *_energy(("forward_active", "A.14"))),
    **{(0x0D, fn, DOWN): _TD_C for fn in _CURVE_FORMATS},
    **{
        (0x0D, fn, UP): (*_TD_C, values_of(fmt, "values", "td_c_points"))
        for fn, fmt in _CURVE_FORMATS.items()
    },
    # AFN 0E events: ask for records Pm..Pn-1, answered with the counters and the records
    **{(0x0E, fn, DOWN): (Field("pm", "bin1"), Field("pn", "bin1")) for fn in (1, 2)},
    **{
        (0x0E, fn, UP): (
            Field("ec1", "bin1"),
            Field("ec2", "bin1"),
            Field("pm", "bin1"),
            Field("pn", "bin1"),
            Special("records", read_records),
        )
        for fn in (1, 2)
    },
    # AFN 10 F1 transparent forwarding (the embedded frame is decoded by ``forwarding``)
    (0x10, 1, DOWN): (
        Field("port", "bin1"),
        Field("line_control", "bs8"),
        Field("frame_timeout", "bs8"),
        Field("byte_timeout_10ms", "bin1"),
        Field("length", "bin2"),
        Content("frame", "length"),
    ),
    (0x10, 1, UP): (Field("port", "bin1"), Field("length", "bin2"), Content("frame", "length")),
}


def layout_of(afn: int, fn: int, up: bool) -> Layout | None:
    """The layout of one unit; a master's AFN 0C request carries no data for any Fn."""
    layout = LAYOUTS.get((afn, fn, up))
    if layout is None and afn == 0x0C and not up:
        return ()
    return layout
