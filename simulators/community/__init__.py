"""The physical community: households, EV piles, feeders and transformers as numbers over time.

Import from the modules (``model``, ``values``, ``faults``): this package re-exports nothing so
that ``simulators.scenario`` can use the fault types without an import cycle.
"""
