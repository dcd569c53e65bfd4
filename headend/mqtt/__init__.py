"""MQTT: terminal telemetry in, readings and events out, on-demand requests answered."""
