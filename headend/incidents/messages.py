"""The body of one notification, per webhook format (sans-IO).

``generic`` posts the event and the incident's API JSON; ``wecom`` and ``dingtalk`` post the
robots' ``msgtype: markdown`` with a short text an operator reads on a phone: what, where,
how bad, how many meters, since when (site time).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from headend.incidents.records import Incident
from headend.incidents.store import incident_json

SHOWN_METERS = 5


def title(incident: Incident, event: str) -> str:
    return f"[{incident.severity.value.upper()}] {incident.kind.value} {incident.subject} {event}"


def summary(incident: Incident, event: str, tz: ZoneInfo) -> str:
    since = incident.opened_at.astimezone(tz).strftime("%Y-%m-%d %H:%M %z")
    lines = [
        f"**{title(incident, event)}**",
        f"state: {incident.state.value}; since {since}",
        f"meters: {len(incident.meters)}; alarms: {len(incident.alarm_ids)}",
    ]
    if incident.transformer:
        lines.append(f"transformer: {incident.transformer}")
    if incident.building:
        lines.append(f"building: {incident.building}")
    worst = sorted(incident.meters.items())[:SHOWN_METERS]
    for meter, value in worst:
        lines.append(f"- {meter}: {value.quantity} {value.value:g} {value.unit}")
    if len(incident.meters) > SHOWN_METERS:
        lines.append(f"- ... and {len(incident.meters) - SHOWN_METERS} more")
    lines.append(f"id: {incident.id}")
    return "\n".join(lines)


def body(fmt: str, incident: Incident, event: str, tz: ZoneInfo) -> dict[str, Any]:
    if fmt == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": summary(incident, event, tz)}}
    if fmt == "dingtalk":
        return {
            "msgtype": "markdown",
            "markdown": {"title": title(incident, event), "text": summary(incident, event, tz)},
        }
    return {"event": event, "incident": incident_json(incident)}


def refused(fmt: str, answer: Any) -> str | None:
    """The robots answer 200 with ``errcode`` != 0 when they refuse (bad key, too often):
    that is a failure to retry, not a delivery."""
    if fmt in ("wecom", "dingtalk") and isinstance(answer, dict):
        code = answer.get("errcode", 0)
        if code not in (0, None):
            return f"errcode {code}: {answer.get('errmsg', '')}"
    return None
