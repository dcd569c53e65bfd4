"""Incidents: alarms that share a cause, grouped, with a lifecycle, kept and announced.

``causes`` decides which cause an alarm belongs to (sans-IO), ``book`` runs the lifecycle,
``store`` keeps it in SQLite, ``notifier`` sends webhooks, ``desk`` wires them to the engine.
docs/incidents.md describes the rules.
"""
