"""Errors of the head-end package: one root, ``HeadendError``, and the tree under it.

A failed read ends as a reading with ``Quality.MISSING`` and a reason code; ``ReadFailed``
carries that reason from the protocol session up to the engine. ``retryable`` decides whether
the bus worker tries again at once: a timeout or a corrupt reply may succeed on the next
attempt, a meter that says "no such data" will say it again.

Every exception class defined in ``headend`` derives from ``HeadendError`` (tests/test_errors.py
checks it), so ``except HeadendError`` catches the head-end's own failures and nothing of the
libraries below it. The stdlib mix-ins stay where callers catch those: a config or registry
error is also a ``ValueError``, an unknown id also a ``KeyError``. Each class lives next to the
code that raises it; this tree is the map (docs/errors.md says what each means to an operator:
the exit code or HTTP status it becomes)::

    HeadendError
    ├── ReadFailed                      a meter request gave no usable answer (.reason, .detail,
    │   │                               .error_word)
    │   ├── TerminalOffline             terminals.errors: no session of that terminal (.terminal)
    │   └── TerminalRequestFailed       terminals.errors: no reply after the retries (.terminal)
    ├── BusClosed                       the bus worker is shutting down
    │   └── QueueClosed                 bus.lanes: closed and drained, the worker stops
    ├── UnknownMeter (KeyError)         no such meter in the registry (.meter)
    ├── UnknownAlarm (KeyError)         anomaly.alarms: no such alarm (.alarm)
    ├── IncidentError                   incidents.errors
    │   ├── UnknownIncident (KeyError)  no such incident (.incident)
    │   ├── IncidentCleared             an acknowledgement of a cleared incident (.incident)
    │   └── IncidentStoreError          incidents.sqlite cannot be read or written
    ├── UnknownTerminal (KeyError)      terminals.errors: no such terminal in the fleet (.terminal)
    ├── ConfigError (ValueError)        config.fields: a config file is wrong (.source, .key,
    │                                   .problem, .meter)
    ├── PointConfigError (ValueError)   config.terminal_points: a terminal point mapping is wrong
    ├── RegistryError (ValueError)      config.meters: a meter (change) would break the fleet
    │                                   (.where, .key, .problem)
    ├── OverlayError (ValueError)       collection.overlay: the fleet overlay file is unreadable
    │                                   (.where, .problem)
    ├── BlockSupportFileError (ValueError) collection.block_support_file: block-reads.json
    │                                   is unreadable (logged; learning starts again)
    ├── KeyProblem (ValueError)         config.errors: a fleet-file model blames one of its keys
    │                                   (.key); the loader turns it into a ConfigError
    ├── UnknownProtocol (LookupError)   drivers.registry: no driver for that protocol (.protocol,
    │                                   .known)
    ├── UnitError (ValueError)          units: a unit that cannot be converted to the canonical one
    ├── AnomalyError                    anomaly.errors
    │   ├── AnomalyConfigError (ValueError)   [anomaly] thresholds (.key, .problem)
    │   ├── FleetLayoutError (ValueError)     meters, transformers, buildings inconsistent
    │   └── ReadingRejectedError (ValueError) a reading the detector cannot use
    ├── ModbusAdapterError              drivers.modbus.errors (.reason: the reading's reason code)
    │   ├── ModbusUsageError            we asked for something Modbus cannot carry
    │   └── ModbusPeerError             the meter, gateway or link failed
    │       ├── ModbusTimeoutError
    │       ├── ModbusConnectionError
    │       ├── ModbusMalformedResponseError
    │       └── ModbusExceptionResponseError   (.unit_id, .function_code, .exception_code)
    ├── BadPayload (ValueError)         mqtt.terminal_payload: a whole message unusable (.topic,
    │                                   .reason)
    ├── ItemProblem (ValueError)        mqtt.terminal_payload: one item unusable (.reason)
    ├── RequestRefused                  mqtt.request_gate: an on-demand request not served (.reason)
    ├── ApiConfigError (ValueError)     api.errors: API tokens that cannot work
    ├── InvalidField                    api.problems: input only the engine can judge (.location)
    ├── NotConfirmed (ValueError)       commands.admin: a meter clear etc. without naming the meter
    ├── WebhookRefused                  collection.handoff_webhook: the hand-off webhook did not
    │                                   acknowledge a file (retried)
    ├── DataLost                        service: stopped with records not stored (.records)
    └── CommandFailed                   cli.errors: a subcommand failed (.code: the exit code)
        └── UsageProblem                an argument that parsed but makes no sense
"""

from __future__ import annotations

from storage.records import FailureReason

RETRYABLE = frozenset(
    {
        FailureReason.TIMEOUT,
        FailureReason.CHECKSUM,
        FailureReason.MALFORMED,
        FailureReason.WRONG_ADDRESS,
        # retried once the worker has reopened the link (or failed fast while it is down)
        FailureReason.CONNECTION_LOST,
    }
)


class HeadendError(Exception):
    """Root of the head-end's own errors."""


class ReadFailed(HeadendError):
    """A request to a meter produced no usable answer; ``reason`` is the stored reason code."""

    def __init__(
        self,
        reason: FailureReason,
        detail: str,
        *,
        error_word: int | None = None,
        retryable: bool | None = None,
    ):
        self.reason = reason
        self.detail = detail
        self.error_word = error_word
        self._retryable = retryable
        super().__init__(f"{reason.value}: {detail}")

    @property
    def retryable(self) -> bool:
        """By reason, unless the raiser knows better (a link known to be down)."""
        return self.reason in RETRYABLE if self._retryable is None else self._retryable


class BusClosed(HeadendError):
    """The bus worker is shutting down; queued jobs end with this instead of a result."""


class UnknownMeter(HeadendError, KeyError):
    """A request names a meter the registry does not have; ``meter`` is the id it asked for."""

    def __init__(self, meter: str) -> None:
        self.meter = meter
        self.message = f"unknown meter {meter!r}"
        super().__init__(self.message)

    def __str__(self) -> str:
        # KeyError's own __str__ would quote the message a second time.
        return self.message
