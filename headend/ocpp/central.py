"""The OCPP 1.6J central system: WebSocket listener, charger identity, the curb loop.

A charger connects to ``ws://host:port/<charger id>`` with subprotocol ``ocpp1.6``. The id
must be in ``[ocpp] chargers`` and, if the charger has a password, HTTP basic auth must carry
it (OCPP security profile 1); otherwise the handshake is refused (404 / 401) and counted,
before any OCPP is spoken. Every ``update_interval`` each transformer's curb is updated from
its load meter's latest ``power_active_total`` and the changed limits are sent: audited
(fsync'd) before they go, the charger's answer recorded after.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from http import HTTPStatus
from typing import Any

import websockets
from ocpp.exceptions import OCPPError
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from headend.clock import Clock
from headend.commands.audit import AuditEntry, AuditLog
from headend.config.ocpp import ChargerConfig, OcppConfig
from headend.ocpp.controller import ActiveSession, Curb, Limit, curbs_for
from headend.ocpp.measurands import Sample, UnusedSample
from headend.ocpp.session import ChargerSession
from storage.records import Reading

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"
USER = "orderly-charging"
"""The audit trail's user for the curb's own orders."""
ANSWER_TIMEOUT = 15.0
NOT_SUPPORTED = frozenset({"NotSupportedError", "NotImplementedError"})
"""The CallErrors of a charger without smart charging (the library answers NotImplemented)."""
OUTCOMES = {"Accepted": "ok", "Rejected": "refused", "NotSupported": "refused"}

LatestLoad = Callable[[str], tuple[float, datetime] | None]
"""A meter id -> its latest ``power_active_total`` (kW) and when it was measured."""


class OcppCentral:
    def __init__(
        self,
        config: OcppConfig,
        *,
        audit: AuditLog,
        clock: Clock,
        store: Callable[[list[Reading]], None],
        latest_load: LatestLoad,
    ) -> None:
        self.config = config
        self.audit = audit
        self.clock = clock
        self.store = store
        self.latest_load = latest_load
        self.curbs: dict[str, Curb] = curbs_for(config.curbs)
        self.sessions: dict[str, ChargerSession] = {}
        self.sent: dict[str, float | None] = {}
        """Per charger: the limit last ordered (A), None: none or cleared."""
        self.answers: dict[str, str] = {}
        """Per charger: its answer to the last order (Accepted, Rejected, NotSupported...)."""
        self.refused = Counter[str]()
        """Refused connections and frames by kind: unknown_charger, bad_auth, bad_frame,
        skipped_sample."""
        self.orders = Counter[str]()
        """Orders sent, by the chargers' answer (Accepted, Rejected, NotSupported, unknown)."""
        self.port: int | None = None
        """The bound port (``[ocpp] port = 0`` picks one)."""
        self.ready = asyncio.Event()
        self._profile_ids: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._updating = asyncio.Lock()
        """One update at a time: a wake-up and the timer must not both order one charger."""

    # -- the listener -------------------------------------------------------------------------

    async def run(self) -> None:
        async with websockets.serve(
            self._serve,
            self.config.host,
            self.config.port,
            subprotocols=[websockets.Subprotocol(SUBPROTOCOL)],
            process_request=self._check_identity,
        ) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            log.info("OCPP central system on %s:%s", self.config.host, self.port)
            self.ready.set()
            await self._curb_loop()

    def _check_identity(self, connection: ServerConnection, request: Request) -> Response | None:
        charger = self._charger_of(request.path)
        if charger is None:
            self.refused["unknown_charger"] += 1
            log.warning("OCPP: refused unknown charger at %r", request.path)
            return connection.respond(HTTPStatus.NOT_FOUND, "unknown charge point\n")
        offered = ",".join(request.headers.get_all("Sec-WebSocket-Protocol"))
        if SUBPROTOCOL not in (item.strip() for item in offered.split(",")):
            self.refused["bad_subprotocol"] += 1
            log.warning("OCPP: charger %s offered subprotocols %r", charger.id, offered)
            return connection.respond(HTTPStatus.BAD_REQUEST, "subprotocol ocpp1.6 required\n")
        if charger.password is not None and not _basic_auth_ok(
            request.headers.get("Authorization"), charger
        ):
            self.refused["bad_auth"] += 1
            log.warning("OCPP: charger %s failed basic auth", charger.id)
            return connection.respond(HTTPStatus.UNAUTHORIZED, "bad credentials\n")
        return None

    def _charger_of(self, path: str) -> ChargerConfig | None:
        name = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return self.config.chargers.get(name)

    async def _serve(self, connection: ServerConnection) -> None:
        charger = self._charger_of(connection.request.path if connection.request else "")
        if charger is None or connection.subprotocol != SUBPROTOCOL:
            self.refused["unknown_charger" if charger is None else "bad_subprotocol"] += 1
            await connection.close(1002, "ocpp1.6 required")
            return
        session = ChargerSession(
            charger.id,
            connection,
            self,
            heartbeat_interval=self.config.heartbeat_interval,
            now=self.clock.now,
        )
        old = self.sessions.get(charger.id)
        if old is not None:  # a charger that reconnects replaces its stale socket
            await old._connection.close(1000, "replaced by a new connection")
        self.sessions[charger.id] = session
        log.info("OCPP: charger %s connected", charger.id)
        try:
            await session.start()
        except ConnectionClosed:
            pass
        finally:
            if self.sessions.get(charger.id) is session:
                del self.sessions[charger.id]
                self.sent.pop(charger.id, None)
            log.info("OCPP: charger %s disconnected", charger.id)

    # -- what chargers say (CentralHooks) -----------------------------------------------------

    def meter_values(self, charger: str, found: list[Sample], skipped: list[UnusedSample]) -> None:
        config = self.config.chargers[charger]
        for item in skipped:
            self.refused["skipped_sample"] += 1
            log.warning("OCPP: charger %s: %s skipped: %s", charger, item.what, item.why)
        tags = {"transformer": config.transformer, "charger": charger}
        readings = [
            Reading(config.meter, s.quantity, s.value, s.unit, s.timestamp, tags=tags)
            for s in found
        ]
        if readings:
            self.store(readings)

    def sessions_changed(self, charger: str) -> None:
        session = self.sessions.get(charger)
        if session is None or not session.transactions:
            self.sent.pop(charger, None)  # a TxProfile ends with its transaction
        self._wake.set()  # a new or ended session gets its share at once

    def rejected_frame(self, charger: str, why: str) -> None:
        self.refused["bad_frame"] += 1
        log.warning("OCPP: charger %s: frame refused: %s", charger, why)

    # -- the curb -----------------------------------------------------------------------------

    async def _curb_loop(self) -> None:
        while True:
            await self.update()
            self._wake.clear()
            try:
                async with asyncio.timeout(self.clock.real_seconds(self.config.update_interval)):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def update(self) -> None:
        """One round: every transformer's limits, and the orders for those that changed."""
        async with self._updating:
            await self._update()

    async def _update(self) -> None:
        now = self.clock.now()
        for name, curb in self.curbs.items():
            active = self._active_sessions(name)
            measured = self.latest_load(curb.config.load_meter)
            load, age = (None, None)
            if measured is not None:
                load, age = measured[0], (now - measured[1]).total_seconds()
            limits = curb.update(active, load, age)
            for charger, limit in limits.items():
                await self._order(charger, limit, name, curb)

    def _active_sessions(self, transformer: str) -> list[ActiveSession]:
        found: list[tuple[int, ActiveSession]] = []
        for charger, session in self.sessions.items():
            config = self.config.chargers[charger]
            if config.transformer != transformer or not session.transactions:
                continue
            first = min(session.transactions)
            found.append((first, ActiveSession(charger, config.max_current, session.draw_kw)))
        return [session for _, session in sorted(found, key=lambda pair: pair[0])]

    async def _order(self, charger: str, limit: Limit, transformer: str, curb: Curb) -> None:
        wanted = None if limit.current is None else round(limit.current, 1)
        if self.sent.get(charger) == wanted:
            return
        session = self.sessions.get(charger)
        if session is None or not session.transactions:
            return
        transaction = session.transactions[min(session.transactions)]
        profile_id = self._profile_ids.setdefault(charger, len(self._profile_ids) + 1)
        command = "clear_charging_profile" if wanted is None else "set_charging_profile"
        facts: dict[str, Any] = {
            "transformer": transformer,
            "limit_a": wanted,
            "reason": limit.reason,
            "headroom_kw": None if curb.headroom_kw is None else round(curb.headroom_kw, 3),
            "transaction": transaction.id,
            "profile_id": profile_id,
        }
        detail = "released" if wanted is None else f"{wanted} A ({limit.reason})"
        intent = self.audit.begin(self.clock.now(), USER, charger, command, detail, facts)
        self.sent[charger] = wanted  # an order is not repeated every round, answered or not
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT):
                if wanted is None:
                    status = await session.clear_limit(profile_id)
                else:
                    status = await session.set_limit(transaction, wanted, profile_id)
        except OCPPError as error:  # the charger answered with a CallError
            status = "NotSupported" if type(error).__name__ in NOT_SUPPORTED else "CallError"
            outcome, text = "refused", f"{type(error).__name__}: {error}"
        except (TimeoutError, ConnectionClosed) as error:
            self._unanswered(intent, charger, f"no answer: {error!r}")
            return
        except Exception as error:  # an answer the library cannot read: the loop goes on
            log.exception("OCPP: charger %s: %s failed", charger, command)
            self._unanswered(intent, charger, f"{type(error).__name__}: {error}")
            return
        else:
            outcome, text = OUTCOMES.get(status, "refused"), status
        self.answers[charger] = status
        self.orders[status] += 1
        self.audit.complete(
            intent, outcome, text, at=self.clock.now(), data={"status": status, **facts}
        )
        if outcome != "ok":
            log.warning("OCPP: charger %s answered %s to %s", charger, status, command)

    def _unanswered(self, intent: AuditEntry, charger: str, detail: str) -> None:
        """The order may or may not have reached the charger: ``unknown``, for an operator."""
        self.answers[charger] = "unknown"
        self.orders["unknown"] += 1
        self.audit.complete(intent, "unknown", detail, at=self.clock.now())

    def status(self) -> Mapping[str, Any]:
        """For operators and tests: who is connected, curbed, how each answered."""
        return {
            "connected": sorted(self.sessions),
            "limits": dict(self.sent),
            "answers": dict(self.answers),
            "refused": dict(self.refused),
            "headroom_kw": {name: curb.headroom_kw for name, curb in self.curbs.items()},
        }


def _basic_auth_ok(header: str | None, charger: ChargerConfig) -> bool:
    if header is None or not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    assert charger.password is not None
    return hmac.compare_digest(user, charger.id) and hmac.compare_digest(
        password.encode(), charger.password.encode()
    )
