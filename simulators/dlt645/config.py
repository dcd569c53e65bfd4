"""How one simulated meter is set up: address, edition, phases, password, timing limits."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import timedelta

from protocols.dlt645 import Address, InvalidAddress, Standard
from protocols.dlt645.catalogue import MAX_TARIFFS
from protocols.dlt645.frame import MAX_DATA_LENGTH, MAX_READ_DATA_LENGTH
from protocols.dlt645.messages import DEFAULT_PASSWORD
from simulators.dlt645.errors import SimulatorConfigError
from simulators.dlt645.esam import EsamConfig
from simulators.dlt645.sources import ValueSource

MAX_REPLY_DELAY = 0.5
"""DL/T 645: a meter answers within 20-500 ms. Below 20 ms is allowed for fast tests."""
DEFAULT_REPLY_DELAY = 0.05
CHINA_STANDARD_TIME = timedelta(hours=8)
MAX_FROZEN_RECORDS = 62
"""Q/GDW 1354: daily frozen records 0506xx01..3E."""
STANDARD_BAUDS = frozenset({1200, 2400, 4800, 9600})
DEFAULT_LOAD_PROFILE_INTERVAL = timedelta(minutes=15)
_DAY = timedelta(days=1)


class MeterKind(enum.StrEnum):
    """Single-phase meters report in the A slots and have no B/C quantities."""

    SINGLE_PHASE = "single"
    THREE_PHASE = "three"


@dataclass(frozen=True, slots=True)
class SimulatedMeterConfig:
    """One meter. ``meter_id`` names it in fault plans and stays put when the address changes.

    ``max_data_length`` is the largest data field the meter puts in one read reply (the
    standard's limit is 200; up to 255 for meters that send longer frames); a longer answer
    goes out as a first frame plus follow-ups.
    ``time_sync_max_offset`` refuses broadcast time syncs that move the clock further than
    that (None: accept every sync, the default because we have not verified the limit in the
    primary text). ``esam`` makes it a secured meter (``simulators.dlt645.esam``).
    """

    address: str
    source: ValueSource
    kind: MeterKind = MeterKind.THREE_PHASE
    standard: Standard = Standard.DLT645_2007
    meter_id: str = ""
    password: bytes = DEFAULT_PASSWORD
    max_data_length: int = MAX_READ_DATA_LENGTH
    reply_delay: float = DEFAULT_REPLY_DELAY
    preamble: int = 4
    utc_offset: timedelta = CHINA_STANDARD_TIME
    supported_bauds: frozenset[int] = field(default_factory=lambda: STANDARD_BAUDS)
    time_sync_max_offset: timedelta | None = None
    esam: EsamConfig | None = None
    """Set: a secured (State Grid) meter, which takes relay control, meter clear and event
    clear only sealed after an identity authentication, and refuses them in plaintext."""
    tariffs: int = 4
    """The tariff count the meter reports (04000204); its tariff blocks stop there."""
    frozen_records: int = 62
    """Daily freezes the meter keeps (0506xx01..NN): Q/GDW 1354 meters keep 62, older or
    cheaper ones fewer, and answer "no requested data" for a record past them."""
    load_profile_interval: timedelta | None = DEFAULT_LOAD_PROFILE_INTERVAL
    """The meter's load record interval (04000A02..07); None: it keeps no load profile and
    answers 06xxxxxx with "no requested data"."""

    def __post_init__(self) -> None:
        where = f"simulated meter {self.address!r}"
        try:
            parsed = Address.parse(self.address)
        except InvalidAddress as exc:
            raise SimulatorConfigError(f"{where}: address: {exc}") from None
        if parsed.is_wildcard or parsed.is_broadcast:
            raise SimulatorConfigError(f"{where}: address must be a real meter address")
        if not self.meter_id:
            object.__setattr__(self, "meter_id", parsed.digits)
        if len(self.password) != 4:
            raise SimulatorConfigError(f"{where}: password must be 4 bytes")
        smallest = self.standard.di_length + 2
        if not smallest <= self.max_data_length <= MAX_DATA_LENGTH:
            raise SimulatorConfigError(
                f"{where}: max_data_length {self.max_data_length} not {smallest}..{MAX_DATA_LENGTH}"
            )
        if not 0 <= self.reply_delay <= MAX_REPLY_DELAY:
            raise SimulatorConfigError(
                f"{where}: reply_delay {self.reply_delay} s not 0..{MAX_REPLY_DELAY}"
            )
        if not 0 <= self.frozen_records <= MAX_FROZEN_RECORDS:
            raise SimulatorConfigError(
                f"{where}: frozen_records {self.frozen_records} not 0..{MAX_FROZEN_RECORDS}"
            )
        if not 1 <= self.tariffs <= MAX_TARIFFS:
            raise SimulatorConfigError(f"{where}: tariffs {self.tariffs} not 1..{MAX_TARIFFS}")
        interval = self.load_profile_interval
        if interval is not None and (
            interval < timedelta(minutes=1) or _DAY % interval or interval % timedelta(minutes=1)
        ):
            raise SimulatorConfigError(
                f"{where}: load_profile_interval {interval} is not whole minutes dividing a day"
            )
        if not 0 <= self.preamble <= 4:
            raise SimulatorConfigError(f"{where}: preamble {self.preamble} not 0..4")
