"""Time-zone names, checked once the same way everywhere: settings (`TimeZoneName`), configuration
documents and the pure cores that turn a name into a `ZoneInfo` (`zone_info`). No I/O beyond
reading the system's zone database, so pure cores may import it."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


def zone_info(name: str) -> ZoneInfo:
    """The zone named `name` (`Europe/Berlin`, `UTC`); ValueError naming it when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):  # OSError: a directory such as "Europe"
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin'") from None


def known_zone(name: str) -> str:
    zone_info(name)
    return name


# A time-zone setting or field: an IANA name, checked when the settings or the document are read.
TimeZoneName = Annotated[str, AfterValidator(known_zone)]
