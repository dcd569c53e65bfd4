"""The families a decoded value belongs to, as plain strings.

They are the values of ``storage.records.ReadingKind`` (a test checks they agree). Protocols
keep them as strings so that they import nothing of the project above them; the head-end turns
them into ``ReadingKind`` when it builds a reading.
"""

from __future__ import annotations

KINDS = frozenset({"energy", "instant", "frozen", "state"})
