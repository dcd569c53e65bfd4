"""The master's per-session state machine: login, link tests, SEQ-matched replies, reports."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.gdw1376 import (
    Address,
    Control,
    Frame,
    FrameDecoder,
    Seq,
    build_body,
    encode,
    link_test,
    parse_units,
)
from protocols.gdw1376.aux import EventCounter
from protocols.gdw1376.control import SecondaryFunction
from protocols.gdw1376.master_session import (
    NEED_DATA,
    Heartbeat,
    LoggedIn,
    LoggedOut,
    MasterSession,
    Report,
    Skipped,
    SkipReason,
    TerminalReply,
)

TERMINAL = Address("1100", 1)


def _events(session: MasterSession, data: bytes) -> list[object]:
    session.receive_data(data)
    out: list[object] = []
    while (event := session.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def _confirms(data: bytes) -> list[Frame]:
    decoder = FrameDecoder()
    decoder.feed(data)
    frames = []
    while (frame := decoder.next_frame()) is not None:
        frames.append(frame)
    return frames


def _reply(afn: int, units: list[tuple[int, int, dict[str, object]]], seq: Seq) -> bytes:
    frame = Frame(
        Control(up=True, primary=False, function=SecondaryFunction.USER_DATA),
        TERMINAL,
        afn,
        seq,
        build_body(afn, True, units),
    )
    return encode(frame)


def _day_values(total: float) -> dict[str, object]:
    return {
        "td_d": date(2026, 12, 1),
        "read_time": None,
        "tariffs": 4,
        "forward_active": [total, 1.0, 2.0, 3.0, total - 6.0],
    }


def _logged_in() -> MasterSession:
    session = MasterSession()
    _events(session, encode(link_test(TERMINAL, 1, seq=0)))
    session.data_to_send()
    return session


def test_login_is_confirmed_and_names_the_terminal() -> None:
    session = MasterSession()
    assert _events(session, encode(link_test(TERMINAL, 1, seq=3))) == [LoggedIn(TERMINAL, False)]
    (confirm,) = _confirms(session.data_to_send())
    assert (confirm.afn, confirm.seq.number, confirm.control.up) == (0x00, 3, False)
    assert parse_units(confirm)[0].item == 1
    assert confirm.address.terminal == 1
    assert confirm.address.master == 1


def test_heartbeat_and_logout_are_confirmed() -> None:
    session = _logged_in()
    (beat,) = _events(session, encode(link_test(TERMINAL, 3, seq=4)))
    assert isinstance(beat, Heartbeat)
    assert len(_confirms(session.data_to_send())) == 1
    assert _events(session, encode(link_test(TERMINAL, 2, seq=5))) == [LoggedOut(TERMINAL)]
    assert not session.logged_in


def test_frames_before_login_and_noise_are_skipped() -> None:
    session = MasterSession()
    events = _events(session, b"IMEI860000000000001" + encode(link_test(TERMINAL, 3, seq=1)))
    assert [e.reason for e in events if isinstance(e, Skipped)] == [
        SkipReason.NOISE,
        SkipReason.BEFORE_LOGIN,
    ]
    assert isinstance(events[0], Skipped)
    assert events[0].size == 19
    assert session.data_to_send() == b""


def test_a_corrupt_frame_is_skipped_and_the_next_one_read() -> None:
    session = _logged_in()
    bad = bytearray(encode(link_test(TERMINAL, 3, seq=1)))
    bad[-2] ^= 0xFF
    events = _events(session, bytes(bad) + encode(link_test(TERMINAL, 3, seq=2)))
    assert any(isinstance(e, Skipped) and e.reason is SkipReason.MALFORMED for e in events)
    assert isinstance(events[-1], Heartbeat)


def test_a_reply_is_matched_by_its_pseq() -> None:
    session = _logged_in()
    pseq, data = session.send_request(0x0D, [(1, 161, {"td_d": date(2026, 12, 1)})])
    (request,) = _confirms(data)
    assert (request.afn, request.seq.number) == (0x0D, pseq)
    other = _events(session, _reply(0x0D, [(1, 161, _day_values(10.0))], Seq((pseq + 5) % 16)))
    assert [e.reason for e in other if isinstance(e, Skipped)] == [SkipReason.UNSOLICITED_REPLY]
    (reply,) = _events(session, _reply(0x0D, [(1, 161, _day_values(10.0))], Seq(pseq)))
    assert isinstance(reply, TerminalReply)
    assert (reply.seq, reply.frames, reply.denied) == (pseq, 1, False)
    assert reply.units[0].values["forward_active"][0] == 10.0


def test_a_multi_frame_reply_is_joined_from_fir_to_fin() -> None:
    session = _logged_in()
    pseq, _ = session.send_request(0x0D, [(p, 161, {"td_d": date(2026, 12, 1)}) for p in (1, 2, 3)])
    parts = [
        _reply(0x0D, [(1, 161, _day_values(11.0))], Seq(pseq, first=True, last=False)),
        _reply(0x0D, [(2, 161, _day_values(12.0))], Seq((pseq + 1) % 16, first=False, last=False)),
        _reply(0x0D, [(3, 161, _day_values(13.0))], Seq((pseq + 2) % 16, first=False, last=True)),
    ]
    events = [e for part in parts for e in _events(session, part)]
    (reply,) = events
    assert isinstance(reply, TerminalReply)
    assert reply.frames == 3
    assert [(u.point, u.values["forward_active"][0]) for u in reply.units] == [
        (1, 11.0),
        (2, 12.0),
        (3, 13.0),
    ]


def test_a_denial_is_a_denied_reply() -> None:
    session = _logged_in()
    pseq, _ = session.send_request(0x0D, [(1, 161, {"td_d": date(2026, 12, 1)})])
    (reply,) = _events(session, _reply(0x00, [(0, 2, {})], Seq(pseq)))
    assert isinstance(reply, TerminalReply)
    assert reply.denied


def test_an_abandoned_request_makes_its_late_reply_unsolicited() -> None:
    session = _logged_in()
    pseq, _ = session.send_request(0x0C, [(0, 2, {})])
    session.abandon(pseq)
    (late,) = _events(session, _reply(0x0C, [(0, 2, {"clock": None})], Seq(pseq)))
    assert isinstance(late, Skipped)
    assert late.reason is SkipReason.UNSOLICITED_REPLY


# The kylecui/3761_Parser capture (tests/protocols/gdw1376/frames/kylecui-3761-parser.toml):
# a real concentrator's login, heartbeat, pushed ERC 14 and logout, with its master's confirms.
CAPTURED_LOGIN = bytes.fromhex("683a003a0068e94924455800027000000100 1c048616".replace(" ", ""))
CAPTURED_HEARTBEAT = bytes.fromhex(
    "684a004a0068c9492445580002710000040040001704871945 16".replace(" ", "")
)
CAPTURED_PUSH = bytes.fromhex(
    "687600760068c4492445580 20e6000000100 1c041b1c0e0b011815040719531604071 98e16".replace(" ", "")
)
CAPTURED_LOGOUT = bytes.fromhex("6832003200 68c94924455800027100000200 4816".replace(" ", ""))
MASTER_CONFIRM_SEQ0 = bytes.fromhex("683200320068 0b4924455802006000000100 7816".replace(" ", ""))
MASTER_CONFIRM_SEQ1 = bytes.fromhex("683200320068 0b4924455802006100000100 7916".replace(" ", ""))


def _fed_in_pieces(session: MasterSession, data: bytes, piece: int) -> list[object]:
    events: list[object] = []
    for at in range(0, len(data), piece):
        events += _events(session, data[at : at + piece])
    return events


@pytest.mark.parametrize("piece", [1, 2, 7, 1000])
def test_the_captured_session_fed_in_pieces_gives_the_same_events_and_confirms(
    piece: int,
) -> None:
    session = MasterSession()
    stream = CAPTURED_LOGIN + CAPTURED_HEARTBEAT + CAPTURED_PUSH + CAPTURED_LOGOUT
    events = _fed_in_pieces(session, stream, piece)
    assert [type(e) for e in events] == [LoggedIn, Heartbeat, Report, LoggedOut]
    assert session.data_to_send() == MASTER_CONFIRM_SEQ0 + MASTER_CONFIRM_SEQ1 * 2


def test_a_captured_session_gets_the_published_masters_confirms_byte_for_byte() -> None:
    session = MasterSession()
    (login,) = _events(session, CAPTURED_LOGIN)
    # The captured login carries ACD and EC (28 important, 4 normal): what the master compares.
    assert login == LoggedIn(Address("2449", 22597), False, EventCounter(28, 4))
    assert session.data_to_send() == MASTER_CONFIRM_SEQ0
    (beat,) = _events(session, CAPTURED_HEARTBEAT)
    assert isinstance(beat, Heartbeat)
    assert session.data_to_send() == MASTER_CONFIRM_SEQ1
    (push,) = _events(session, CAPTURED_PUSH)
    assert isinstance(push, Report)
    assert push.afn == 0x0E
    assert session.data_to_send() == b""  # SEQ 60H: no CON, nothing to confirm
    assert _events(session, CAPTURED_LOGOUT) == [LoggedOut(Address("2449", 22597))]
    assert session.data_to_send() == MASTER_CONFIRM_SEQ1


def _with_confirm(raw: bytes, seq: int) -> bytes:
    frame = FrameDecoder()
    frame.feed(raw)
    pushed = frame.next_frame()
    assert pushed is not None
    return encode(
        Frame(
            pushed.control,
            pushed.address,
            pushed.afn,
            Seq(seq, confirm=True),
            pushed.body,
            ec=pushed.ec,
        )
    )


def test_pushed_reports_with_con_are_confirmed_and_de_duplicated() -> None:
    session = MasterSession()
    _events(session, CAPTURED_LOGIN)
    session.data_to_send()
    (first,) = _events(session, _with_confirm(CAPTURED_PUSH, 7))
    assert isinstance(first, Report)
    assert first.units[0].values["records"][0]["erc"] == 14
    assert [f.seq.number for f in _confirms(session.data_to_send())] == [7]
    (again,) = _events(session, _with_confirm(CAPTURED_PUSH, 8))
    assert isinstance(again, Skipped)
    assert again.reason is SkipReason.DUPLICATE_REPORT
    assert [f.seq.number for f in _confirms(session.data_to_send())] == [8]


def test_a_frame_of_another_terminal_is_skipped() -> None:
    session = _logged_in()
    pseq, _ = session.send_request(0x0C, [(0, 2, {})])
    frame = Frame(
        Control(up=True, primary=False, function=SecondaryFunction.USER_DATA),
        Address("1100", 2),
        0x0C,
        Seq(pseq),
        build_body(0x0C, True, [(0, 2, {"clock": None})]),
    )
    (event,) = _events(session, encode(frame))
    assert isinstance(event, Skipped)
    assert event.reason is SkipReason.OTHER_TERMINAL


_TRICKY = st.sampled_from(
    [b"\x68", b"\x68\x32\x00\x32\x00\x68", CAPTURED_LOGIN[:10], CAPTURED_PUSH[:-3], b"\x16\x68"]
)


@settings(max_examples=300)
@given(noise=st.lists(st.one_of(st.binary(max_size=40), _TRICKY), min_size=1, max_size=6))
def test_nothing_a_peer_sends_raises_and_the_frames_between_noise_are_read(
    noise: list[bytes],
) -> None:
    """Garbage (stray 68H bytes, half frames) around every frame: no exception, every frame's
    event is still given out, and what was skipped is counted."""
    session = MasterSession()
    frames = [CAPTURED_LOGIN, CAPTURED_HEARTBEAT, CAPTURED_PUSH]
    stream = b"".join(n + f for n, f in zip(noise, frames * 2, strict=False)) + noise[-1]
    events = _events(session, stream)
    wanted = [type(e) for e in events if isinstance(e, LoggedIn | Heartbeat | Report)]
    sent = [LoggedIn, Heartbeat, Report, LoggedIn, Heartbeat][: len(noise)]  # then a repeat
    assert wanted == sent
    skipped = sum(e.size for e in events if isinstance(e, Skipped))
    framed = sum(len(f) for _, f in zip(noise, frames * 2, strict=False))
    assert skipped + session.buffered == len(stream) - framed  # every byte counted once
