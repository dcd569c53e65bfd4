"""One asyncio TCP server for every terminal that dials in: the IO loop around ``MasterSession``.

Each connection gets a ``protocols.gdw1376.master_session.MasterSession`` that decides what
the bytes mean; this module only reads, writes, keeps time and keeps the table of logged-in
terminals. Time rules: a connection must log in within ``login_timeout``; after that, three
heartbeat periods without a frame end it (a terminal heartbeats at its period, so three missed
beats means the link is dead even if TCP has not noticed). A second login of the same terminal
(it redialled while the old socket lingers) replaces the old session, which is closed.
Requests wait for their reply with a timeout and are sent again with the same PSEQ up to
``retries`` times; a request to a terminal that is not logged in fails at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from headend.terminals.errors import TerminalOffline, TerminalRequestFailed
from protocols.gdw1376.address import Address
from protocols.gdw1376.aux import EventCounter
from protocols.gdw1376.master_session import (
    Event,
    Heartbeat,
    LoggedIn,
    LoggedOut,
    MasterSession,
    NeedData,
    Report,
    Skipped,
    TerminalReply,
)
from protocols.gdw1376.messages import UnitSpec
from storage.records import FailureReason

log = logging.getLogger(__name__)

READ_SIZE = 4096
MISSED_BEATS = 3
"""Heartbeat periods of silence after which a session is declared dead."""


def terminal_key(address: Address) -> str:
    """How the fleet file and the API name a terminal: ``region-terminal`` (``1100-00001``)."""
    return f"{address.region.upper()}-{address.terminal:05d}"


@dataclass(slots=True)
class ServerCounters:
    connections: int = 0
    logins: int = 0
    replaced: int = 0
    """Logins that replaced a live session of the same terminal."""
    logouts: int = 0
    heartbeats: int = 0
    heartbeat_timeouts: int = 0
    login_timeouts: int = 0
    reports: int = 0
    requests: int = 0
    retries: int = 0
    request_timeouts: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    """Frames or bytes skipped, by ``SkipReason``."""
    bytes_skipped: int = 0


class TerminalSession:
    """A logged-in terminal on one connection: send it requests, await their replies."""

    def __init__(
        self,
        key: str,
        machine: MasterSession,
        writer: asyncio.StreamWriter,
        counters: ServerCounters,
        window: int,
    ) -> None:
        self.key = key
        self._machine = machine
        self._writer = writer
        self._counters = counters
        self._window = asyncio.Semaphore(window)
        self._waiting: dict[int, asyncio.Future[TerminalReply]] = {}
        self.closed_because: str | None = None
        self.event_counter: EventCounter | None = None
        """The terminal's EC as its login or latest reply carried it (None: never sent):
        ``collection.terminal_events`` compares it with the records it has read."""

    @property
    def closed(self) -> bool:
        return self.closed_because is not None

    async def request(
        self, afn: int, units: Iterable[UnitSpec], *, reply_timeout: float, retries: int
    ) -> TerminalReply:
        """The terminal's reply to one request (all frames of it), or ``TerminalRequestFailed``.

        A denial (AFN 00 F2) is a ``TerminalReply`` with ``denied``: whether that is an error
        depends on what was asked (a day the terminal does not hold is an answer).
        """
        specs = list(units)
        async with self._window:
            self._raise_if_closed()
            pseq, data = self._machine.send_request(afn, specs)
            future: asyncio.Future[TerminalReply] = asyncio.get_running_loop().create_future()
            self._waiting[pseq] = future
            self._counters.requests += 1
            try:
                for attempt in range(retries + 1):
                    self._raise_if_closed()
                    if attempt:
                        self._counters.retries += 1
                        self._machine.resend(pseq)
                    self._writer.write(data)
                    try:
                        # Not asyncio.wait_for: on 3.11 it returns a reply that is ready as
                        # the caller is cancelled and drops the cancellation, so a stopping
                        # engine's terminal pull went on waiting and `headend demo` never stopped.
                        async with asyncio.timeout(reply_timeout):
                            return await asyncio.shield(future)
                    except TimeoutError:
                        continue
                self._counters.request_timeouts += 1
                raise TerminalRequestFailed(
                    self.key,
                    FailureReason.TIMEOUT,
                    f"no reply to AFN {afn:02X}H (SEQ {pseq}) in {reply_timeout:g} s, "
                    f"{retries + 1} attempt(s)",
                )
            finally:
                self._waiting.pop(pseq, None)
                self._machine.abandon(pseq)
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()  # retrieved: the caller has its outcome already

    def _raise_if_closed(self) -> None:
        if self.closed_because is not None:
            raise TerminalOffline(self.key, self.closed_because)

    def deliver(self, reply: TerminalReply) -> None:
        future = self._waiting.get(reply.seq)
        if future is not None and not future.done():
            future.set_result(reply)

    def close(self, because: str) -> None:
        if self.closed_because is not None:
            return
        self.closed_because = because
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(TerminalOffline(self.key, because))
        self._writer.close()


class TerminalServer:
    """Accepts terminal connections on ``host:port``; ``session(key)`` finds a logged-in one.

    ``heartbeat_periods`` gives a terminal's period by key (from the fleet file), falling back
    to ``default_heartbeat``; ``on_report`` receives every pushed report (de-duplicated).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        master: int = 1,
        heartbeat_periods: Mapping[str, float] | None = None,
        default_heartbeat: float = 60.0,
        login_timeout: float = 30.0,
        window: int = 1,
        on_report: Callable[[str, Report], None] | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.master = master
        self.heartbeat_periods = dict(heartbeat_periods or {})
        self.default_heartbeat = default_heartbeat
        self.login_timeout = login_timeout
        self.window = window
        self.on_report = on_report
        self.counters = ServerCounters()
        self.sessions: dict[str, TerminalSession] = {}
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._closing = False
        self.listening = asyncio.Event()
        """Set once the socket accepts connections (``port`` is known)."""

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the terminal server is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._closing = False
        self._server = await asyncio.start_server(self._accept, self.host, self._requested_port)
        self.listening.set()
        log.info("terminal server listening on %s:%d", self.host, self.port)

    async def aclose(self) -> None:
        self._closing = True
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions.values()):
            session.close("the master station is stopping")
        # Until none is left: a terminal redialling as we stop may have been accepted just
        # before the close, and Server.wait_closed below waits for every connection to end.
        await asyncio.sleep(0)
        while self._handlers:
            handlers = list(self._handlers)
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await asyncio.sleep(0)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self.listening.clear()

    async def __aenter__(self) -> TerminalServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def run(self) -> None:
        """Serve until cancelled (the engine's TaskGroup)."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.aclose()

    # ------------------------------------------------------------ the fleet's view

    def session(self, key: str) -> TerminalSession:
        """The logged-in session of terminal ``key``, or ``TerminalOffline`` at once."""
        session = self.sessions.get(key)
        if session is None or session.closed:
            raise TerminalOffline(key, "not logged in to the master station")
        return session

    async def request(
        self,
        key: str,
        afn: int,
        units: Iterable[UnitSpec],
        *,
        reply_timeout: float = 10.0,
        retries: int = 2,
    ) -> TerminalReply:
        return await self.session(key).request(
            afn, units, reply_timeout=reply_timeout, retries=retries
        )

    async def wait_online(self, key: str) -> TerminalSession:
        """Wait until terminal ``key`` is logged in (callers bound it with a timeout)."""
        async with self._changed:
            await self._changed.wait_for(lambda: key in self.sessions)
            return self.sessions[key]

    async def wait_change(self) -> None:
        """Wait for the next login or end of a session."""
        async with self._changed:
            await self._changed.wait()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------ one connection

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closing:  # accepted as the server closed: refused, so wait_closed can end
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.counters.connections += 1
        peer = writer.get_extra_info("peername")
        machine = MasterSession(master=self.master)
        state = _Connection(peer=str(peer), machine=machine, writer=writer)
        try:
            await self._serve(reader, state)
        except (ConnectionError, OSError) as exc:
            state.end = f"connection lost: {exc}"
        except asyncio.CancelledError:
            # ``aclose`` cancels the handlers and gathers them; nobody else awaits this task.
            # Ending it normally matters: Python 3.11's start_server callback calls
            # ``task.exception()`` on a cancelled handler and logs a traceback per connection.
            state.end = "the master station is stopping"
        finally:
            self._handlers.discard(task)
            await self._drop(state)

    async def _serve(self, reader: asyncio.StreamReader, state: _Connection) -> None:
        while True:
            limit = self._silence_limit(state.session)
            try:
                async with asyncio.timeout(limit):
                    data = await reader.read(READ_SIZE)
            except TimeoutError:
                self._timed_out(state, limit)
                return
            if not data:
                state.end = state.end or "the terminal closed the connection"
                return
            state.machine.receive_data(data)
            while not isinstance(event := state.machine.next_event(), NeedData):
                outgoing = state.machine.data_to_send()
                if outgoing:  # the confirm goes out before the event acts (a logout closes)
                    state.writer.write(outgoing)
                await self._on_event(state, event)
            if state.session is not None and state.session.closed:
                return
            await state.writer.drain()

    def _silence_limit(self, session: TerminalSession | None) -> float:
        if session is None:
            return self.login_timeout
        period = self.heartbeat_periods.get(session.key, self.default_heartbeat)
        return MISSED_BEATS * period

    def _timed_out(self, state: _Connection, limit: float) -> None:
        if state.session is None:
            self.counters.login_timeouts += 1
            state.end = f"no login in {limit:g} s"
            log.warning("connection from %s: no login in %g s, closed", state.peer, limit)
        else:
            self.counters.heartbeat_timeouts += 1
            state.end = f"no heartbeat in {limit:g} s ({MISSED_BEATS} periods)"
            log.warning("terminal %s: %s, session ended", state.session.key, state.end)

    async def _on_event(self, state: _Connection, event: Event) -> None:
        match event:
            case LoggedIn(terminal=terminal, ec=ec):
                await self._login(state, terminal_key(terminal))
                if state.session is not None and ec is not None:
                    state.session.event_counter = ec
            case Heartbeat():
                self.counters.heartbeats += 1
            case LoggedOut():
                self.counters.logouts += 1
                state.end = "the terminal logged out"
                await self._drop(state)
            case TerminalReply():
                if state.session is not None:
                    if event.ec is not None:
                        state.session.event_counter = event.ec
                    state.session.deliver(event)
            case Report():
                self.counters.reports += 1
                if state.session is not None and self.on_report is not None:
                    self.on_report(state.session.key, event)
            case Skipped(reason=reason, detail=detail, size=size):
                self.counters.skipped[reason.value] += 1
                self.counters.bytes_skipped += size
                log.debug("connection from %s: skipped (%s): %s", state.peer, reason, detail)

    async def _login(self, state: _Connection, key: str) -> None:
        if state.session is not None and state.session.key == key:
            return  # the same terminal logging in again on its own connection
        await self._drop(state)
        self.counters.logins += 1
        old = self.sessions.get(key)
        if old is not None:
            self.counters.replaced += 1
            log.warning("terminal %s logged in again from %s: old session ends", key, state.peer)
            old.close("replaced by a new login of the same terminal")
        else:
            log.info("terminal %s logged in from %s", key, state.peer)
        session = TerminalSession(key, state.machine, state.writer, self.counters, self.window)
        state.session = session
        self.sessions[key] = session
        await self._notify()

    async def _drop(self, state: _Connection) -> None:
        session, state.session = state.session, None
        if session is None:
            if state.end is not None and not state.writer.is_closing():
                state.writer.close()
            return
        if self.sessions.get(session.key) is session:
            del self.sessions[session.key]
            log.info("terminal %s offline: %s", session.key, state.end or "connection closed")
        session.close(state.end or "connection closed")
        await self._notify()


@dataclass(slots=True)
class _Connection:
    peer: str
    machine: MasterSession
    writer: asyncio.StreamWriter
    session: TerminalSession | None = None
    end: str | None = None
