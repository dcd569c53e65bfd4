"""Which shared cause an alarm belongs to: sans-IO, from the alarm, the open alarms and the
topology only.

A transformer overload takes its transformer's alarm and its meters' low voltage; low voltage
elsewhere is its building's; meters silent together are their channel's, their concentrator's
or, when most of a transformer's meters go at once, the area's outage. Anything else is its
own incident (kind ``meter``). The rules are docs/incidents.md's table.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from headend.anomaly.alarms import Alarm
from headend.incidents.records import IncidentKind
from headend.incidents.topology import Topology

OVERLOAD_KINDS = frozenset({"overload", "heavy_load"})
LOW_VOLTAGE_KINDS = frozenset({"voltage_low", "voltage_low_sustained"})
SILENT_KINDS = frozenset({"outage", "meter_unread", "meter_offline", "communication_fault"})
TERMINAL_DOWN_KINDS = frozenset({"terminal_power_off", "terminal_offline"})
"""ERC 14 power off, and the session lost (``collection.terminal_sessions``)."""
GROUP_SHARE = 0.5
"""Share of a channel's, terminal's or transformer's meters silent at once that makes it theirs."""
MIN_CHANNEL_METERS = 2
MIN_AREA_METERS = 3


@dataclass(frozen=True, slots=True)
class Cause:
    kind: IncidentKind
    subject: str
    transformer: str | None = None
    building: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind.value, self.subject)


@dataclass(slots=True)
class OpenSituation:
    """What the open alarms say about the groups, computed once per pass over them."""

    overloaded: set[str] = field(default_factory=set)
    areas_out: set[str] = field(default_factory=set)
    terminals_down: set[str] = field(default_factory=set)
    silent: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    """attribute (channel, terminal, transformer) -> its value -> the silent meters in it."""

    @classmethod
    def of(cls, alarms: Iterable[Alarm], topology: Topology) -> OpenSituation:
        situation = cls()
        silent: dict[str, defaultdict[str, set[str]]] = {
            a: defaultdict(set) for a in ("channel", "terminal", "transformer")
        }
        for alarm in alarms:
            if not alarm.open:
                continue
            if alarm.subject_kind == "transformer":
                name = topology.transformer(alarm.subject)
                if alarm.kind in OVERLOAD_KINDS:
                    situation.overloaded.add(name)
                elif alarm.kind == "outage":
                    situation.areas_out.add(name)
            elif alarm.subject_kind == "terminal" and alarm.kind in TERMINAL_DOWN_KINDS:
                situation.terminals_down.add(alarm.subject)
            elif alarm.subject_kind == "meter" and alarm.kind in SILENT_KINDS:
                place = topology.place(alarm.subject)
                for attribute in silent:
                    value = getattr(place, attribute)
                    if value:
                        silent[attribute][value].add(alarm.subject)
        situation.silent = {a: dict(v) for a, v in silent.items()}
        return situation

    def most_silent(
        self, attribute: str, value: str | None, topology: Topology, least: int
    ) -> bool:
        if not value:
            return False
        down = len(self.silent.get(attribute, {}).get(value, ()))
        total = topology.count(attribute, value)
        return down >= least and total > 0 and down >= GROUP_SHARE * total


def cause_of(alarm: Alarm, topology: Topology, situation: OpenSituation) -> Cause:
    if alarm.subject_kind == "transformer":
        return _transformer_cause(alarm, topology, situation)
    if alarm.subject_kind == "building" and alarm.kind in LOW_VOLTAGE_KINDS:
        meters = topology.meters_of("building", alarm.subject)
        transformer = topology.place(meters[0]).transformer if meters else None
        return Cause(IncidentKind.BUILDING_LOW_VOLTAGE, alarm.subject, transformer, alarm.subject)
    if alarm.subject_kind == "terminal" and alarm.kind in TERMINAL_DOWN_KINDS:
        transformer = topology.terminal_transformers.get(alarm.subject)
        return Cause(IncidentKind.TERMINAL_DOWN, alarm.subject, transformer)
    if alarm.subject_kind == "meter":
        return _meter_cause(alarm, topology, situation)
    return _own(alarm, topology)


def _transformer_cause(alarm: Alarm, topology: Topology, situation: OpenSituation) -> Cause:
    name = topology.transformer(alarm.subject)
    if alarm.kind in OVERLOAD_KINDS or (
        alarm.kind in LOW_VOLTAGE_KINDS and name in situation.overloaded
    ):
        return Cause(IncidentKind.TRANSFORMER_OVERLOAD, name, name)
    if alarm.kind == "outage":
        return Cause(IncidentKind.AREA_OUTAGE, name, name)
    if alarm.kind == "communication_fault":
        channels = {topology.place(m).channel for m in topology.meters_of("transformer", name)}
        channels.discard(None)
        subject = channels.pop() if len(channels) == 1 else name
        return Cause(IncidentKind.CHANNEL_DOWN, subject or name, name)
    return Cause(IncidentKind.METER, alarm.subject, name)


def _meter_cause(alarm: Alarm, topology: Topology, situation: OpenSituation) -> Cause:
    place = topology.place(alarm.subject)
    if alarm.kind in LOW_VOLTAGE_KINDS:
        if place.transformer and place.transformer in situation.overloaded:
            t = place.transformer
            return Cause(IncidentKind.TRANSFORMER_OVERLOAD, t, t, None)
        if place.building:
            return Cause(
                IncidentKind.BUILDING_LOW_VOLTAGE, place.building, place.transformer, place.building
            )
        return _own(alarm, topology)
    if alarm.kind not in SILENT_KINDS:
        return _own(alarm, topology)
    area = place.transformer in situation.areas_out or situation.most_silent(
        "transformer", place.transformer, topology, MIN_AREA_METERS
    )
    terminal = place.terminal in situation.terminals_down or situation.most_silent(
        "terminal", place.terminal, topology, MIN_CHANNEL_METERS
    )
    channel = situation.most_silent("channel", place.channel, topology, MIN_CHANNEL_METERS)
    # A meter without voltage is the area's first; one that is merely not answering is its
    # link's (terminal, then channel) first.
    order = ["area", "terminal", "channel"]
    if alarm.kind in ("meter_offline", "communication_fault"):
        order = ["channel", "terminal", "area"]
    elif alarm.kind == "meter_unread":
        order = ["terminal", "area", "channel"]
    for which in order:
        if which == "area" and area and place.transformer:
            t = place.transformer
            return Cause(IncidentKind.AREA_OUTAGE, t, t)
        if which == "terminal" and terminal and place.terminal:
            return Cause(IncidentKind.TERMINAL_DOWN, place.terminal, place.transformer)
        if which == "channel" and channel and place.channel:
            return Cause(IncidentKind.CHANNEL_DOWN, place.channel, place.transformer)
    return _own(alarm, topology)


def _own(alarm: Alarm, topology: Topology) -> Cause:
    """Its own incident, one per subject: a meter's unrelated alarms are that meter's."""
    place = topology.place(alarm.subject) if alarm.subject_kind == "meter" else None
    return Cause(
        IncidentKind.METER,
        alarm.subject,
        place.transformer if place else None,
        place.building if place else None,
    )
