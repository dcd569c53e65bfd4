"""The one exception root of the simulators package, ``SimulatorError``, and the tree under it.

Every exception class defined in ``simulators`` derives from ``SimulatorError``
(tests/test_errors.py checks it), so a test harness or ``headend simulate`` catches a simulator
that cannot run with one ``except``. The stdlib mix-ins stay where callers catch those: bad
configuration is also a ``ValueError``, an unknown meter also a ``KeyError``. Each class lives
next to the code that raises it; this tree is the map (docs/errors.md says what each means to an
operator)::

    SimulatorError
    ├── SimulatorConfigError (ValueError)     dlt645.errors: an impossible DL/T 645 bus setup
    ├── MasterProtocolError                   dlt645.errors: the head-end under test broke the
    │                                         protocol in a way a meter cannot answer
    ├── ModbusSimulatorError                  modbus.server: the Modbus server cannot start
    ├── CommunityError                        community.errors
    │   ├── UnknownMeterError (KeyError)      a meter or transformer id not in the scenario
    │   └── TimeWentBackwardsError (ValueError)  the model only integrates forward
    ├── TerminalError                         terminal.errors
    │   ├── TerminalConfigError (ValueError)  our own terminal configuration
    │   └── RequestError (ValueError)         the peer's on-demand request (.token)
    ├── ScenarioError (ValueError)            scenario: a scenario file is unreadable or
    │                                         inconsistent (names the file and the key)
    ├── FleetExportError (ValueError)         fleet_export: no fleet config for this scenario
    └── RunnerError                           runner: the scenario cannot run as asked
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Root of every error raised by ``simulators``."""
