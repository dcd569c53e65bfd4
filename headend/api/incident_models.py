"""The incidents' JSON (docs/api.md, *Incidents*): the contract the dashboard is built on.

The bodies come from ``headend.incidents.store.incident_json`` (the same JSON the store keeps),
validated through these models so the OpenAPI document describes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from headend.incidents.records import Incident
from headend.incidents.store import incident_json

IncidentKindName = Literal[
    "transformer_overload",
    "building_low_voltage",
    "channel_down",
    "terminal_down",
    "area_outage",
    "meter",
]
IncidentStateName = Literal["open", "acknowledged", "cleared"]
IncidentStateFilter = Literal["open", "acknowledged", "cleared", "all"]


class WorstOut(BaseModel):
    quantity: str
    value: float
    unit: str
    at: datetime


class IncidentMeterOut(BaseModel):
    meter: str
    worst: WorstOut


class AcknowledgementOut(BaseModel):
    by: str
    at: datetime
    note: str


class IncidentOut(BaseModel):
    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    kind: IncidentKindName
    severity: Literal["critical", "major", "minor", "info"]
    state: IncidentStateName
    transformer: str | None
    building: str | None
    subject: str
    opened_at: datetime
    updated_at: datetime
    cleared_at: datetime | None
    acknowledged: AcknowledgementOut | None
    alarm_count: int
    meters: list[IncidentMeterOut]
    alarm_ids: list[str]

    @classmethod
    def of(cls, incident: Incident) -> IncidentOut:
        return cls.model_validate(incident_json(incident))


class HistoryOut(BaseModel):
    at: datetime
    event: Literal["opened", "grew", "acknowledged", "cleared", "reopened"]
    by: str | None
    note: str | None


class IncidentDetailOut(IncidentOut):
    history: list[HistoryOut]

    @classmethod
    def of(cls, incident: Incident) -> IncidentDetailOut:
        return cls.model_validate(incident_json(incident, history=True))


class IncidentListOut(BaseModel):
    total: int
    incidents: list[IncidentOut]


class AcknowledgeIn(BaseModel):
    note: str = Field(default="", max_length=500)
