"""How the head-end tunes Python's cyclic garbage collector: paused while a large fleet is
built, and frozen over that fleet with rarer young collections while it collects.

Loading 100,000 meters allocates millions of objects that all live on (the parsed file, the
configs, the schedules) and form almost no reference cycles. The collector does not know that:
every few hundred allocations it runs, and each run of the oldest generation walks every object
alive so far, so start-up slowed down per meter as the fleet grew (at 50,000 meters the engine
took twice as long with the collector running as without). Reference counting still frees what
these steps drop; the collector looks for cycles again as soon as the step is done.

Once collection runs, that start-up heap (fleet, registry, layouts) is long-lived and never
garbage, yet every gen-2 collection would walk it again: frozen, the collector only looks at
what collection allocates. And every read in flight holds a few dozen young objects
(coroutines, futures, timers) across awaits; at Python's default of 700 allocations a young
collection ran every few reads and promoted them, measured as ~80 µs of CPU per read at 500
gateways.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_GC_THRESHOLD = 20_000
"""Allocations between young collections while the engine collects (Python's default: 700)."""


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


@contextmanager
def tuned_for_collection() -> Iterator[None]:
    """Run the block (the engine collecting) with what exists so far frozen and young
    collections every ``YOUNG_GC_THRESHOLD`` allocations; both are undone afterwards, so what
    the engine leaves behind may be collected again."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], YOUNG_GC_THRESHOLD), *threshold[1:])
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
