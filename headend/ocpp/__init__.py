"""Orderly charging (有序充电): the OCPP 1.6J central system and its transformer curb.

``controller`` decides the limits (sans-IO), ``measurands`` turns MeterValues into readings
(sans-IO), ``session`` answers one charger's messages (the ocpp library), ``central`` runs
the WebSocket server, the update loop and the audited SetChargingProfile orders.
"""
