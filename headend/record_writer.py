"""Batches records on their way to the sink, so a fleet's readings cost a few writes a second.

Collection must never wait on storage: ``put`` only appends. A flush loop hands full batches (or
whatever is there each ``interval``) to the sink; a failed write keeps the batch and tries again
with backoff, because the only sink that can fail here is local (the embedded store or the
durable outbox in front of a remote database) and dropping readings is not an option.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from headend.backoff import Backoff
from storage.errors import StorageError
from storage.schema import Record
from storage.sink import Sink

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WriterStats:
    written: int = 0
    batches: int = 0
    errors: int = 0
    pending: int = 0


class RecordWriter:
    def __init__(
        self,
        sink: Sink,
        *,
        batch_size: int = 1000,
        interval: float = 1.0,
        backoff: Backoff | None = None,
        shutdown_grace: float = 10.0,
    ) -> None:
        self.sink = sink
        self.stats = WriterStats()
        self._batch_size = batch_size
        self._interval = interval
        self._backoff = backoff or Backoff(0.5, 30.0)
        self._shutdown_grace = shutdown_grace
        self._buffer: list[Record] = []
        self._wake = asyncio.Event()

    def put(self, records: Sequence[Record]) -> None:
        self._buffer.extend(records)
        self.stats.pending = len(self._buffer)
        if len(self._buffer) >= self._batch_size:
            self._wake.set()

    async def flush(self) -> None:
        """Write everything buffered now (shutdown, tests)."""
        failures = 0
        while self._buffer:
            batch = self._buffer[: self._batch_size]
            try:
                await self.sink.write(batch)
            except StorageError as exc:
                failures += 1
                self.stats.errors += 1
                if failures == 1:
                    log.error("storage write failed, keeping %d records: %s", len(batch), exc)
                await asyncio.sleep(self._backoff.delay(failures))
                continue
            if failures:
                log.info("storage write works again")
                failures = 0
            del self._buffer[: len(batch)]
            self.stats.written += len(batch)
            self.stats.batches += 1
            self.stats.pending = len(self._buffer)

    async def run(self) -> None:
        try:
            while True:
                try:
                    async with asyncio.timeout(self._interval):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                self._wake.clear()
                await self.flush()
        finally:
            # Cancelled at shutdown: whatever is buffered still reaches the sink, within reason.
            try:
                async with asyncio.timeout(self._shutdown_grace):
                    await self.flush()
            except TimeoutError:
                log.error("shutdown: %d records could not be written", len(self._buffer))
