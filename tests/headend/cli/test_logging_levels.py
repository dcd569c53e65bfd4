"""Logger levels are the application's to set: importing a module sets none, the CLI sets them."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import headend.cli as cli

PACKAGES = ("headend", "protocols", "simulators", "storage")
MQTT_CLIENT_LOGGERS = ("aiomqtt", "mqtt", "simulators.terminal.simulator.mqtt")

IMPORT_EVERYTHING = f"""
import importlib, json, logging, pkgutil
import aiomqtt  # sets its own "mqtt" logger to WARNING when imported: that is its level, not ours
def set_levels():
    return {{
        name: logger.level
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
        and logger.level != logging.NOTSET
        and (name.split(".")[0] in {PACKAGES!r} or name in {MQTT_CLIENT_LOGGERS!r})
    }}
third_party = set_levels()
for package in {PACKAGES!r}:
    root = importlib.import_module(package)
    for module in pkgutil.walk_packages(root.__path__, package + "."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
changed = {{name: level for name, level in set_levels().items() if third_party.get(name) != level}}
print(json.dumps(changed))
"""


def test_importing_every_module_sets_no_logger_level() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {}


def test_the_cli_quietens_the_mqtt_clients_for_one_command_and_restores_them() -> None:
    loggers = [logging.getLogger(name) for name in MQTT_CLIENT_LOGGERS]
    before = [logger.level for logger in loggers]
    with cli._logging(verbose=0):
        assert [logger.level for logger in loggers] == [logging.ERROR] * len(loggers)
    assert [logger.level for logger in loggers] == before


def test_debug_verbosity_leaves_the_mqtt_clients_alone() -> None:
    loggers = [logging.getLogger(name) for name in MQTT_CLIENT_LOGGERS]
    before = [logger.level for logger in loggers]
    with cli._logging(verbose=2):
        assert [logger.level for logger in loggers] == before
