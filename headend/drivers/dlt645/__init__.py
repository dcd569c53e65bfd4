"""DL/T 645-2007/1997 meters on RS-485 and through transparent gateways."""

from __future__ import annotations

from headend.drivers.dlt645.driver import Dlt645Driver

__all__ = ["Dlt645Driver"]
