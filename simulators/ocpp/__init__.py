"""Simulated OCPP 1.6J charge points: the community's EVs charging through the head-end's CSMS."""
