"""How failures become HTTP answers: who is at fault decides the status.

- the client named something that does not exist -> 404;
- the client asked for something the fleet cannot do (unknown quantity, bad meter) -> 422 in
  FastAPI's own shape, ``loc`` naming the field, so clients parse one error format;
- the meter did not answer in time -> 504; the meter or bus answered wrongly -> 502; the meter
  type cannot do this at all -> 409; the head-end is shutting down -> 503.
Both 5xx bodies carry the stored reason code and the detail, as a failed reading would.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from headend.anomaly.alarms import UnknownAlarm
from headend.config.meters import RegistryError
from headend.errors import BusClosed, HeadendError, ReadFailed, UnknownMeter
from headend.terminals.errors import UnknownTerminal
from storage.records import FailureReason

log = logging.getLogger(__name__)


class InvalidField(HeadendError):
    """Raised inside a route for input only the engine can judge; answered as 422."""

    def __init__(self, location: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.location = location
        self.message = message


def unprocessable(location: tuple[str, ...], message: str) -> JSONResponse:
    body: dict[str, Any] = {
        "detail": [{"loc": list(location), "msg": message, "type": "value_error"}]
    }
    return JSONResponse(body, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def read_failed_status(exc: ReadFailed) -> int:
    if exc.reason is FailureReason.TIMEOUT:
        return status.HTTP_504_GATEWAY_TIMEOUT
    if exc.reason is FailureReason.UNSUPPORTED:
        return status.HTTP_409_CONFLICT
    return status.HTTP_502_BAD_GATEWAY


def install_problem_handlers(app: FastAPI) -> None:
    async def on_invalid_field(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InvalidField)
        return unprocessable(exc.location, exc.message)

    async def on_not_found(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)

    async def on_registry(request: Request, exc: Exception) -> JSONResponse:
        return unprocessable(("body",), str(exc))

    async def on_read_failed(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ReadFailed)
        code = read_failed_status(exc)
        log.info("%s %s: %s", request.method, request.url.path, exc)
        body = {"detail": exc.detail, "reason": exc.reason.value, "error_word": exc.error_word}
        return JSONResponse(body, status_code=code)

    async def on_bus_closed(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": f"head-end shutting down: {exc}"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )

    app.add_exception_handler(InvalidField, on_invalid_field)
    app.add_exception_handler(UnknownMeter, on_not_found)
    app.add_exception_handler(UnknownAlarm, on_not_found)
    app.add_exception_handler(UnknownTerminal, on_not_found)
    app.add_exception_handler(RegistryError, on_registry)
    app.add_exception_handler(ReadFailed, on_read_failed)
    app.add_exception_handler(BusClosed, on_bus_closed)
