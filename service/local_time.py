"""Times as the people at desks read them: in the council's time zone, in words."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from flask import current_app


def in_words(moment: datetime, zone: str) -> str:
    """``moment`` in ``zone`` as people at the council read it: "20 November 2026, 10:05"."""
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local.day} {local:%B %Y, %H:%M}"


def local_time(moment: datetime | None, empty: str = "") -> str:
    """``moment`` in LOCAL_TIMEZONE, in words; ``empty`` for no time."""
    if moment is None:
        return empty
    return in_words(moment, current_app.config["LOCAL_TIMEZONE"])


def start_of_day(day: date) -> datetime:
    """Midnight at the start of ``day`` in LOCAL_TIMEZONE (an aware time)."""
    return datetime.combine(day, time.min, ZoneInfo(current_app.config["LOCAL_TIMEZONE"]))
