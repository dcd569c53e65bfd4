"""Clock check and sync, port commands and remote control (AFN 05 F1/F2), sent to a simulated
concentrator over real TCP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from headend.clock import SystemClock
from headend.collection.terminal_pull import FrozenPull
from headend.commands.audit import AuditLog
from headend.commands.terminal_clock import SYNC, TerminalClocks
from headend.commands.terminal_context import TerminalCommandContext
from headend.commands.terminal_ports import PortAction, TerminalPorts
from headend.commands.terminal_switches import SwitchAction, TerminalSwitches
from headend.config.terminals import ConcentratorConfig, MasterConfig, TerminalMeterConfig
from headend.terminals import TerminalOffline, TerminalRequestFailed, TerminalServer
from headend.terminals.errors import UnknownTerminal
from protocols.gdw1376 import Address
from simulators.concentrator import FrozenStore, SimulatedConcentrator, StoreMeter
from storage.records import FailureReason
from tests.support.frozen_writer import Stored

TZ = ZoneInfo("Asia/Shanghai")
KEY = "4403-00012"
THRESHOLD = 30.0
TOLERANCE_S = 3.0
"""The terminal's clock shows whole seconds and the reply takes a while on a loaded machine."""
TERMINAL = ConcentratorConfig(
    name="jzq-T1",
    address=KEY,
    heartbeat=60.0,
    transformer="T1",
    keeps_days=2,
    meters=(TerminalMeterConfig("m1", "jzq-T1", 1, transformer="T1"),),
)
OFFLINE = ConcentratorConfig("jzq-T2", "4403-00013", 60.0, "T2", 2, ())


def _wall_clock() -> datetime:
    return datetime.now(TZ).replace(tzinfo=None)


def _today() -> date:
    return datetime.now(TZ).date()


class Rig:
    def __init__(self, server: TerminalServer, concentrator: SimulatedConcentrator, audit: Path):
        self.server = server
        self.concentrator = concentrator
        self.audit = AuditLog(audit)
        self.ctx = TerminalCommandContext(
            server,
            {TERMINAL.name: TERMINAL, OFFLINE.name: OFFLINE},
            MasterConfig(reply_timeout=5.0, retries=0),
            self.audit,
            SystemClock(),
            TZ,
        )
        self.clocks = TerminalClocks(self.ctx, THRESHOLD, 86400.0)
        self.ports = TerminalPorts(self.ctx)
        self.switches = TerminalSwitches(self.ctx)

    def audited(self, command: str) -> list[tuple[str, str]]:
        """(outcome, detail) of the terminal's entries for ``command``, oldest first."""
        entries = reversed(self.audit.recent(TERMINAL.name))
        return [(e.outcome, e.detail) for e in entries if e.command == command]


@pytest.fixture
async def terminal_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = FrozenStore(
        [StoreMeter(1, "m1", "000000000001")], lambda m, d: 100.0, _today, keeps_days=2
    )
    concentrator = SimulatedConcentrator(Address("4403", 12), store, _wall_clock)
    async with TerminalServer(heartbeat_periods={KEY: 60.0}) as server, asyncio.TaskGroup() as g:
        task = g.create_task(concentrator.run("127.0.0.1", server.port))
        async with asyncio.timeout(10):
            await server.wait_online(KEY)
            await concentrator.logged_in.wait()
        yield Rig(server, concentrator, tmp_path / "audit.jsonl")
        task.cancel()


async def test_a_drifting_clock_is_set_audited_first_and_read_back_right(terminal_rig: Rig) -> None:
    terminal_rig.concentrator.control.drift = timedelta(seconds=300)
    check = await terminal_rig.clocks.check(TERMINAL.name, "ops")
    # The terminal's clock shows whole seconds: the drift is read to within one.
    assert check.drift == pytest.approx(300, abs=TOLERANCE_S)
    assert check.synced
    assert check.after is not None
    assert abs(check.after) < TOLERANCE_S
    assert abs(terminal_rig.concentrator.control.drift.total_seconds()) < TOLERANCE_S
    assert terminal_rig.concentrator.control.clock_sets == 1
    entries = terminal_rig.audited(SYNC)
    assert [outcome for outcome, _ in entries] == ["intent", "ok"]
    shown = float(entries[0][1].removeprefix("drift was ").removesuffix(" s"))
    assert shown == pytest.approx(300, abs=TOLERANCE_S)
    assert terminal_rig.clocks.last[TERMINAL.name] == check


async def test_a_clock_within_the_threshold_is_left_alone_and_not_audited(
    terminal_rig: Rig,
) -> None:
    terminal_rig.concentrator.control.drift = timedelta(seconds=-10)
    check = await terminal_rig.clocks.check(TERMINAL.name)
    assert check.drift == pytest.approx(-10, abs=TOLERANCE_S)
    assert not check.synced
    assert terminal_rig.concentrator.control.clock_sets == 0
    assert terminal_rig.audited(SYNC) == []


async def test_a_refused_clock_set_is_audited_refused_and_raised(terminal_rig: Rig) -> None:
    terminal_rig.concentrator.control.drift = timedelta(seconds=-120)
    terminal_rig.concentrator.faults.refuse_control = True
    with pytest.raises(TerminalRequestFailed) as raised:
        await terminal_rig.clocks.check(TERMINAL.name, "ops")
    assert raised.value.reason is FailureReason.ERROR_RESPONSE
    assert [outcome for outcome, _ in terminal_rig.audited(SYNC)] == ["intent", "refused"]
    assert terminal_rig.concentrator.control.drift == timedelta(seconds=-120)


async def test_offline_and_unknown_terminals_fail_at_once_with_nothing_audited(
    terminal_rig: Rig,
) -> None:
    with pytest.raises(TerminalOffline):
        await terminal_rig.clocks.check(OFFLINE.name)
    with pytest.raises(TerminalOffline):
        await terminal_rig.ports.command(OFFLINE.name, 2, PortAction.PAUSE, "ops")
    with pytest.raises(UnknownTerminal, match="jzq-T9"):
        await terminal_rig.clocks.check("jzq-T9")
    assert terminal_rig.audit.recent() == []


async def test_port_commands_reach_the_terminal_audited(terminal_rig: Rig) -> None:
    await terminal_rig.ports.command(TERMINAL.name, 2, PortAction.PAUSE, "ops", "meter exchange")
    assert terminal_rig.concentrator.control.ports == {2: "paused"}
    await terminal_rig.ports.command(TERMINAL.name, 2, PortAction.RESUME, "ops")
    await terminal_rig.ports.command(TERMINAL.name, 31, PortAction.REREAD, "ops")
    assert terminal_rig.concentrator.control.ports == {2: "reading", 31: "reading"}
    assert terminal_rig.concentrator.control.rereads == {31: 1}
    paused = terminal_rig.audited("terminal port pause")
    assert paused == [("intent", "port 2: meter exchange"), ("ok", "AFN 05 F49 port 2")]
    assert [o for o, _ in terminal_rig.audited("terminal port reread")] == ["intent", "ok"]


async def test_a_refused_port_command_is_audited_refused(terminal_rig: Rig) -> None:
    terminal_rig.concentrator.faults.refuse_control = True
    with pytest.raises(TerminalRequestFailed):
        await terminal_rig.ports.command(TERMINAL.name, 2, PortAction.PAUSE, "ops")
    assert [o for o, _ in terminal_rig.audited("terminal port pause")] == ["intent", "refused"]
    assert terminal_rig.concentrator.control.ports == {}


async def test_a_port_outside_1_to_31_is_refused_before_anything_is_sent(terminal_rig: Rig) -> None:
    with pytest.raises(ValueError, match="port 32"):
        await terminal_rig.ports.command(TERMINAL.name, 32, PortAction.PAUSE, "ops")
    assert terminal_rig.audit.recent() == []


async def test_the_pull_checks_the_clock_once_per_login_before_reading(terminal_rig: Rig) -> None:
    terminal_rig.concentrator.control.drift = timedelta(seconds=3600)
    stored = Stored()
    pull = FrozenPull(
        terminal_rig.server,
        {TERMINAL.name: TERMINAL},
        terminal_rig.ctx.master,
        TZ,
        stored,
        on_login=terminal_rig.clocks.on_login,
    )
    await pull.run_pass(SystemClock().now())
    assert abs(terminal_rig.concentrator.control.drift.total_seconds()) < TOLERANCE_S
    assert stored.readings  # the pull went on after the check
    terminal_rig.concentrator.control.drift = timedelta(seconds=3600)
    await pull.run_pass(SystemClock().now())  # the same session: no second check
    assert terminal_rig.concentrator.control.clock_sets == 1
    assert [o for o, _ in terminal_rig.audited(SYNC)] == ["intent", "ok"]


async def test_a_remote_trip_is_audited_on_disk_before_the_terminal_acts(terminal_rig: Rig) -> None:
    rig = terminal_rig
    assert rig.audit.path is not None
    audit_file = rig.audit.path
    on_disk: list[list[str]] = []
    rig.concentrator.on_command = lambda what: on_disk.append(audit_file.read_text().splitlines())
    await rig.switches.command(
        TERMINAL.name,
        3,
        SwitchAction.TRIP,
        "ops",
        "transformer overload",
        limit_half_hours=2,
        alarm_delay_minutes=5,
    )
    (lines,) = on_disk  # what the audit file held when the terminal carried it out
    (intent,) = lines
    assert '"intent"' in intent
    assert "transformer overload" in intent
    assert rig.concentrator.control.switches == {3: "tripped"}
    assert rig.concentrator.control.trip_controls == {3: 0x25}  # 2 half hours, 5 minutes
    assert rig.audited("terminal switch trip") == [
        ("intent", "turn 3: transformer overload"),
        ("ok", "AFN 05 F1 turn 3"),
    ]
    await rig.switches.command(TERMINAL.name, 3, SwitchAction.ALLOW_CLOSE, "ops", "load shed")
    assert rig.concentrator.control.switches == {3: "close allowed"}
    (entry, *_) = rig.audit.recent(TERMINAL.name)
    assert (entry.command, entry.outcome) == ("terminal switch allow_close", "ok")


async def test_a_refused_or_impossible_switch_order_is_audited_or_not_sent(
    terminal_rig: Rig,
) -> None:
    rig = terminal_rig
    with pytest.raises(ValueError, match="turn 9"):
        await rig.switches.command(TERMINAL.name, 9, SwitchAction.TRIP, "ops", "x")
    with pytest.raises(ValueError, match="limit_half_hours"):
        await rig.switches.command(
            TERMINAL.name, 1, SwitchAction.TRIP, "ops", "x", limit_half_hours=16
        )
    with pytest.raises(TerminalOffline):
        await rig.switches.command(OFFLINE.name, 1, SwitchAction.TRIP, "ops", "x")
    assert rig.audit.recent() == []  # none of them was sent or audited
    rig.concentrator.faults.refuse_control = True
    with pytest.raises(TerminalRequestFailed) as refused:
        await rig.switches.command(TERMINAL.name, 1, SwitchAction.TRIP, "ops", "overload")
    assert refused.value.reason is FailureReason.ERROR_RESPONSE
    assert [o for o, _ in rig.audited("terminal switch trip")] == ["intent", "refused"]
    assert rig.concentrator.control.switches == {}
