"""Transport URL parsing: good URLs give the documented settings, bad ones name the bad part."""

from __future__ import annotations

import pytest

from transports import (
    SERIAL_DEFAULTS,
    DialInSettings,
    Framing,
    InvalidTransportUrl,
    MemorySettings,
    Parity,
    SerialSettings,
    TcpSettings,
    TransportError,
    parse_transport_url,
)


def test_serial_url_with_every_setting() -> None:
    settings = parse_transport_url("serial:///dev/ttyUSB0?baud=9600&parity=O&bytesize=7&stopbits=2")
    assert settings == SerialSettings(
        port="/dev/ttyUSB0", baud=9600, parity=Parity.ODD, bytesize=7, stopbits=2.0
    )
    assert settings.frame_format == "7O2"
    assert "/dev/ttyUSB0" in settings.describe()


def test_bare_serial_url_uses_dlt645_2007_line_settings() -> None:
    settings = parse_transport_url("serial:///dev/ttyS1")
    assert isinstance(settings, SerialSettings)
    defaults = SERIAL_DEFAULTS["dlt645-2007"]
    assert (settings.baud, settings.parity, settings.bytesize, settings.stopbits) == (
        defaults.baud,
        defaults.parity,
        defaults.bytesize,
        defaults.stopbits,
    )
    assert settings.frame_format == "8E1"


@pytest.mark.parametrize("protocol", sorted(SERIAL_DEFAULTS))
def test_protocol_hint_picks_its_defaults(protocol: str) -> None:
    settings = parse_transport_url("serial:///dev/ttyS1", protocol=protocol)
    assert isinstance(settings, SerialSettings)
    assert settings.baud == SERIAL_DEFAULTS[protocol].baud
    assert settings.parity is SERIAL_DEFAULTS[protocol].parity


def test_dlt645_1997_is_slower_than_2007() -> None:
    old = parse_transport_url("serial:///dev/ttyS1?protocol=dlt645-1997")
    new = parse_transport_url("serial:///dev/ttyS1", protocol="dlt645-2007")
    assert isinstance(old, SerialSettings)
    assert isinstance(new, SerialSettings)
    assert old.baud < new.baud


def test_query_protocol_wins_over_the_callers_hint_and_explicit_baud_wins_over_both() -> None:
    settings = parse_transport_url(
        "serial:///dev/ttyS1?protocol=dlt645-1997&baud=4800", protocol="modbus-rtu"
    )
    assert isinstance(settings, SerialSettings)
    assert settings.baud == 4800
    assert settings.parity is SERIAL_DEFAULTS["dlt645-1997"].parity


@pytest.mark.parametrize(
    ("word", "parity"),
    [("n", Parity.NONE), ("Even", Parity.EVEN), ("ODD", Parity.ODD), ("S", Parity.SPACE)],
)
def test_parity_spellings(word: str, parity: Parity) -> None:
    settings = parse_transport_url(f"serial:///dev/ttyS1?parity={word}")
    assert isinstance(settings, SerialSettings)
    assert settings.parity is parity


def test_windows_style_serial_port_in_netloc() -> None:
    settings = parse_transport_url("serial://COM3?baud=1200")
    assert isinstance(settings, SerialSettings)
    assert settings.port == "COM3"


def test_tcp_url() -> None:
    settings = parse_transport_url("tcp://10.0.0.5:8899?connect_timeout=2.5&keepalive_idle=60")
    assert isinstance(settings, TcpSettings)
    assert (settings.host, settings.port, settings.framing) == (
        "10.0.0.5",
        8899,
        Framing.TRANSPARENT,
    )
    assert settings.connect_timeout == 2.5
    assert settings.keepalive_idle == 60
    assert settings.describe() == "tcp 10.0.0.5:8899"


def test_rtu_over_tcp_only_changes_the_framing() -> None:
    plain = parse_transport_url("tcp://gw.example:502")
    rtu = parse_transport_url("rtu+tcp://gw.example:502")
    assert isinstance(plain, TcpSettings)
    assert isinstance(rtu, TcpSettings)
    assert rtu.framing is Framing.MODBUS_RTU
    assert (rtu.host, rtu.port) == (plain.host, plain.port)
    assert rtu.describe().startswith("rtu+tcp ")


def test_ipv6_tcp_url() -> None:
    settings = parse_transport_url("tcp://[::1]:8899")
    assert isinstance(settings, TcpSettings)
    assert settings.host == "::1"
    assert settings.describe() == "tcp [::1]:8899"


def test_memory_url() -> None:
    assert parse_transport_url("memory://line-7") == MemorySettings(name="line-7")


def test_dial_in_urls_carry_the_packets_as_bytes() -> None:
    text = parse_transport_url("dialin://DTU-0001?heartbeat=HB-0001")
    assert text == DialInSettings(b"DTU-0001", b"HB-0001")
    assert text.describe() == "dial-in DTU-0001"
    binary = parse_transport_url("dialin://%FE%FE8600?heartbeat=%AA%55")
    assert binary == DialInSettings(b"\xfe\xfe8600", b"\xaaU")
    assert parse_transport_url("dialin://IMEI-1") == DialInSettings(b"IMEI-1", None)


@pytest.mark.parametrize(
    ("url", "bad_part"),
    [
        ("ftp://host:21", "scheme 'ftp'"),
        ("/dev/ttyUSB0", "scheme '(none)'"),
        ("serial://", "no serial port"),
        ("serial:///dev/ttyS1?baud=fast", "baud='fast'"),
        ("serial:///dev/ttyS1?baud=0", "baud 0"),
        ("serial:///dev/ttyS1?parity=X", "parity='X'"),
        ("serial:///dev/ttyS1?bytesize=9", "bytesize 9"),
        ("serial:///dev/ttyS1?stopbits=3", "stopbits='3'"),
        ("serial:///dev/ttyS1?speed=2400", "unknown serial parameter(s) speed"),
        ("serial:///dev/ttyS1?baud=1200&baud=2400", "'baud' is given twice"),
        ("serial:///dev/ttyS1?protocol=iec62056", "protocol 'iec62056'"),
        ("tcp://host", "no port"),
        ("tcp://:502", "no host"),
        ("tcp://host:0", "port 0"),
        ("tcp://host:70000", "bad port"),
        ("tcp://host:http", "bad port"),
        ("tcp://host:502/path", "unexpected path '/path'"),
        ("tcp://host:502?timeout=1", "unknown tcp parameter(s) timeout"),
        ("tcp://host:502?connect_timeout=-1", "connect_timeout -1"),
        ("tcp://host:502?keepalive_count=x", "keepalive_count='x'"),
        ("tcp://host:502#frag", "fragment"),
        ("memory://", "no link name"),
        ("memory://name/extra", "only a name"),
        ("dialin://", "no registration packet"),
        ("dialin://DTU-1?beat=HB", "unknown dialin parameter 'beat'"),
        ("dialin://DTU%16", "contains 0x16"),
        ("dialin://DTU-1?heartbeat=DTU-1-HB", "must not start with one another"),
    ],
)
def test_bad_urls_name_the_url_and_the_bad_part(url: str, bad_part: str) -> None:
    with pytest.raises(InvalidTransportUrl) as caught:
        parse_transport_url(url)
    message = str(caught.value)
    assert repr(url) in message
    assert bad_part in message


def test_invalid_url_is_both_a_transport_error_and_a_value_error() -> None:
    with pytest.raises(TransportError):
        parse_transport_url("bogus://x")
    with pytest.raises(ValueError, match="bogus"):
        parse_transport_url("bogus://x")


def test_settings_validate_when_built_in_code_too() -> None:
    with pytest.raises(InvalidTransportUrl, match="stopbits 3"):
        SerialSettings(port="/dev/ttyS0", stopbits=3)
    with pytest.raises(InvalidTransportUrl, match="keepalive_interval"):
        TcpSettings(host="h", port=1, keepalive_interval=0)
