"""Times as the people at desks read them: in the council's time zone, in words."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from flask import current_app


def local_time(moment: datetime | None) -> str:
    """``moment`` in LOCAL_TIMEZONE, as "6 Dec 2026, 14:05"; empty for no time."""
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(current_app.config["LOCAL_TIMEZONE"]))
    return f"{local.day} {local:%b %Y, %H:%M}"


def start_of_day(day: date) -> datetime:
    """Midnight at the start of ``day`` in LOCAL_TIMEZONE (an aware time)."""
    return datetime.combine(day, time.min, ZoneInfo(current_app.config["LOCAL_TIMEZONE"]))
