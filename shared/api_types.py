"""Request field types every Vigil API checks the same way."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

# The years a request may name. Beyond them two things break (issue 17's fuzzing): the maths on a
# value (a week later, an hour later, a rotation's shifts around it) leaves Python's years 1-9999,
# and asyncpg writes the first and the last instant of that range as PostgreSQL's -infinity and
# infinity, which read back as naive datetimes.
YEARS = range(1900, 9000)


def _in_years(value: date) -> date:
    if value.year not in YEARS:
        raise ValueError(f"must be in the years {YEARS.start} to {YEARS.stop - 1}")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_in_years)]  # a date and time with a UTC offset
Day = Annotated[date, AfterValidator(_in_years)]
