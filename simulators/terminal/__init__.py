"""Box-type transformer terminal (TTU) simulator: JSON telemetry over MQTT, plus on-demand reads.

Import from the modules: ``config`` (topics and point mapping), ``payload`` (the JSON codec)
and ``simulator`` (the aiomqtt client loop).
"""
