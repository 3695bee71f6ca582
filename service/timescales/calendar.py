"""Working days in England and Wales: weekdays that are not bank holidays.

Bank holidays come from the ``holidays`` package, which computes them offline (including the
one-off days such as coronations), so nothing is downloaded at run time.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays


@lru_cache(maxsize=1)
def _bank_holidays() -> holidays.HolidayBase:
    # England's list is the England-and-Wales list (Wales has no extra statutory days). The
    # years around today are computed now; any other year is added when first asked about.
    this_year = date.today().year
    return holidays.country_holidays("GB", subdiv="ENG", years=range(this_year - 1, this_year + 2))


def load_bank_holidays() -> None:
    """Build the bank-holiday calendar now, once per process, rather than in the first request
    that needs it: about 0.2 s of CPU that used to land on a fresh worker's first submission.
    """
    _bank_holidays()


def is_working_day(day: date) -> bool:
    """Return whether ``day`` is a working day (Monday to Friday and not a bank holiday)."""
    return day.weekday() < 5 and day not in _bank_holidays()


# Remembered: a dashboard asks for the due date of every visit in a year, from a few hundred
# distinct days.
@lru_cache(maxsize=8192)
def add_working_days(start: date, count: int) -> date:
    """Return the date ``count`` working days after ``start`` (``start`` itself never counts)."""
    if count < 0:
        raise ValueError("count must not be negative")
    day = start
    remaining = count
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def local_date(moment: datetime, timezone: str = "Europe/London") -> date:
    """Return the calendar date of ``moment`` where the council works (it needs a timezone)."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    return moment.astimezone(ZoneInfo(timezone)).date()
