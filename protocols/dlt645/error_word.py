"""The one-byte error word of an error reply (control | 0xC0), decoded into flags.

The bits differ between editions, so the edition of the reply's function code picks the type.
"""

from __future__ import annotations

import enum


class ErrorWord(enum.IntFlag):
    """DL/T 645-2007 error word (SERR)."""

    OTHER = 0x01
    NO_DATA = 0x02
    """No requested data: the meter does not have this identifier."""
    UNAUTHORISED = 0x04
    """Wrong password or insufficient access level."""
    BAUD_UNCHANGEABLE = 0x08
    TOO_MANY_YEAR_ZONES = 0x10
    TOO_MANY_DAILY_PERIODS = 0x20
    TOO_MANY_TARIFFS = 0x40


class ErrorWord1997(enum.IntFlag):
    """DL/T 645-1997 error word."""

    ILLEGAL_DATA = 0x01
    BAD_IDENTIFIER = 0x02
    BAD_PASSWORD = 0x04
    TOO_MANY_YEAR_ZONES = 0x10
    TOO_MANY_DAILY_PERIODS = 0x20
    TOO_MANY_TARIFFS = 0x40
