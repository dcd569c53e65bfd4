"""The incidents of a running head-end: the book over the alarm book, kept in the store and
announced by the notifier.

The engine runs ``loop``: every ``interval`` real seconds one pass files the alarm book's
alarms (``IncidentBook.reconcile``), writes what changed and offers it to the notifier. A pass
is a few dict operations per open alarm, so it runs on the event loop; the store's write is
small and fsync'd (an acknowledgement is on disk before it is answered).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from headend.anomaly.alarms import Alarm
from headend.config.fleet import FleetConfig, MeterConfig
from headend.incidents.book import DEFAULT_REOPEN_WITHIN, IncidentBook, IncidentChange, sort_key
from headend.incidents.errors import IncidentStoreError
from headend.incidents.notifier import Notifier
from headend.incidents.records import Incident, IncidentState, WorstValue
from headend.incidents.store import FILE_NAME, IncidentQuery, IncidentStore
from headend.incidents.topology import MeterLocation, Topology
from storage.records import Reading

log = logging.getLogger(__name__)

LOAD = "power_active_total"
DEFAULT_INTERVAL = 2.0
"""Real seconds between passes: an incident shows within a couple of seconds of its alarm."""


def topology_of(meters: Iterable[MeterConfig], config: FleetConfig) -> Topology:
    """Every bus meter and every concentrator's meter, placed by the fleet (and archive) tags."""
    places = [MeterLocation(m.id, m.transformer, m.building, m.channel, None) for m in meters]
    for terminal in config.terminals.values():
        for meter in terminal.meters:
            transformer = meter.transformer or terminal.transformer
            places.append(MeterLocation(meter.id, transformer, meter.building, None, terminal.name))
    names = {t.name: t.name for t in config.transformers.values()}
    names.update({t.terminal: t.name for t in config.transformers.values() if t.terminal})
    terminals = {t.name: t.transformer for t in config.terminals.values() if t.transformer}
    return Topology.of(places, names, terminals)


def load_from(latest: Mapping[tuple[str, str], Reading]) -> Callable[[str], WorstValue | None]:
    def load_of(meter: str) -> WorstValue | None:
        reading = latest.get((meter, LOAD))
        if reading is None or reading.value is None:
            return None
        return WorstValue(LOAD, float(reading.value), reading.unit, reading.timestamp)

    return load_of


class IncidentDesk:
    def __init__(
        self,
        topology: Topology,
        alarms: Callable[[], Sequence[Alarm]],
        now: Callable[[], datetime],
        *,
        data_dir: Path | None = None,
        notifier: Notifier | None = None,
        load_of: Callable[[str], WorstValue | None] | None = None,
        reopen_within: timedelta = DEFAULT_REOPEN_WITHIN,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self._alarms = alarms
        self._now = now
        self._load_of = load_of
        self.notifier = notifier
        self.interval = interval
        self.store = IncidentStore(data_dir / FILE_NAME) if data_dir is not None else None
        restored = self.store.load() if self.store is not None else []
        self.book = IncidentBook(topology, reopen_within=reopen_within, restored=restored)
        self.version = 0
        """Bumped whenever the open or acknowledged list changes (the live stream's cue)."""
        self.store_errors = 0
        self.pass_errors = 0

    def topology_changed(self, topology: Topology) -> None:
        """A fleet change: new alarms are filed by the new places (filed ones stay put); the
        rule alarms it closed are raised again by the next sweeps, into the incidents held."""
        self.book.topology = topology
        self.book.hold_open(self._now())

    async def loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.run_pass()
            except Exception:  # incidents are a view of the alarms: collection goes on
                self.pass_errors += 1
                log.exception("incident pass failed")

    def run_pass(self) -> list[IncidentChange]:
        changes = self.book.reconcile(self._alarms(), self._now(), self._load_of)
        if changes:
            self.version += 1
            self._save(c.incident for c in changes)
            if self.notifier is not None:
                for change in changes:
                    self.notifier.offer(change)
        return changes

    def _save(self, incidents: Iterable[Incident]) -> None:
        if self.store is None:
            return
        try:
            self.store.save(incidents)
        except IncidentStoreError as exc:  # kept in memory; the next change writes it again
            self.store_errors += 1
            log.warning("%s", exc)

    def acknowledge(self, incident: str, by: str, note: str) -> Incident:
        """Durable before it returns (the store raises rather than acknowledge in memory only)."""
        change = self.book.acknowledge(incident, by, note, self._now())
        if self.store is not None:
            self.store.save([change.incident])
        self.version += 1
        return change.incident

    def get(self, incident: str) -> Incident:
        return self.book.get(incident)

    def active(self) -> list[Incident]:
        return self.book.active()

    def search(self, query: IncidentQuery) -> tuple[int, list[Incident]]:
        if self.store is not None:
            return self.store.search(query)
        found = [i for i in self.book.all() if _matches(i, query)]
        found.sort(key=sort_key)
        return len(found), found[query.offset : query.offset + query.limit]

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def _matches(incident: Incident, query: IncidentQuery) -> bool:
    if query.state != "all" and incident.state is not IncidentState(query.state):
        return False
    for attribute in ("transformer", "building"):
        wanted = getattr(query, attribute)
        if wanted and getattr(incident, attribute) != wanted:
            return False
    if query.kind and incident.kind.value != query.kind:
        return False
    if query.q:
        q = query.q.lower()
        texts = [incident.subject, incident.kind.value, *incident.meters]
        if not any(q in t.lower() for t in texts):
            return False
    if query.since is not None and incident.updated_at < query.since:
        return False
    return query.until is None or incident.opened_at <= query.until
