"""Building a large fleet with the cyclic garbage collector paused.

Loading 100,000 meters allocates millions of objects that all live on (the parsed file, the
configs, the schedules) and form almost no reference cycles. The collector does not know that:
every few hundred allocations it runs, and each run of the oldest generation walks every object
alive so far, so start-up slowed down per meter as the fleet grew (at 50,000 meters the engine
took twice as long with the collector running as without). Reference counting still frees what
these steps drop; the collector looks for cycles again as soon as the step is done.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run the block with the cyclic collector off; it is on again afterwards if it was on
    before (nested pauses and a caller that turned it off itself are left as they were)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
