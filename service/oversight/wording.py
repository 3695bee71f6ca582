"""The words people read on the oversight pages: plan types, kinds of event, dates.

A visit's own fields and codes have their words in ``service.visits.labels``.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

PLAN_LABELS = {
    "child_protection": "Child protection",
    "child_in_need": "Child in need",
    "looked_after": "Child in care",
    "private_fostering": "Private fostering",
    "care_leaver": "Care leaver",
}
KIND_LABELS = {"visit": "Visit", "review": "Decision", "plan": "Plan"}


def day_text(day: date | str) -> str:
    """A date (or an ISO date) as people read it: "4 May 2016"."""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return f"{day.day} {day:%B %Y}"


def moment_text(moment: datetime, zone: str) -> str:
    """A time as people in the council read it: "20 November 2026, 10:05", local time."""
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local.day} {local:%B %Y, %H:%M}"
