"""The statutory visit rule for each plan type, and the next due date it gives.

A rule has up to three intervals: ``first`` (from the plan or placement start to the first visit),
``every`` (between visits), and ``after_first_year`` (between visits once the plan is a year old).
Intervals are written ``10wd`` (working days), ``7d`` (days), ``6w`` (weeks) or ``3m`` (months).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta

from service.timescales.calendar import add_working_days

PLAN_TYPES = (
    "child_protection",
    "child_in_need",
    "looked_after",
    "private_fostering",
    "care_leaver",
)

DEFAULT_RULES: dict[str, dict[str, str]] = {
    "child_protection": {"every": "10wd"},
    "child_in_need": {"every": "20wd"},
    "looked_after": {"first": "1w", "every": "6w", "after_first_year": "3m"},
    "private_fostering": {"every": "6w", "after_first_year": "12w"},
    "care_leaver": {"every": "2m"},
}

_INTERVAL = re.compile(r"^(\d{1,3})(wd|d|w|m)$")


@dataclass(frozen=True)
class Interval:
    """A count of working days, days, weeks or calendar months."""

    count: int
    unit: str

    @classmethod
    def parse(cls, text: str) -> Interval:
        """Parse ``10wd``, ``7d``, ``6w`` or ``3m``."""
        match = _INTERVAL.match(text)
        if not match:
            raise ValueError(f"not an interval: {text!r}")
        return cls(int(match.group(1)), match.group(2))

    def after(self, day: date) -> date:
        """Return the date this interval after ``day``."""
        if self.unit == "wd":
            return add_working_days(day, self.count)
        if self.unit == "d":
            return day + timedelta(days=self.count)
        if self.unit == "w":
            return day + timedelta(weeks=self.count)
        return day + relativedelta(months=self.count)


@dataclass(frozen=True)
class TimescaleRule:
    """How often a child on one plan type must be seen on a statutory visit."""

    every: Interval
    first: Interval | None = None
    after_first_year: Interval | None = None

    def next_due(self, plan_start: date, last_seen: date | None) -> date:
        """Return when the next statutory visit is due.

        ``last_seen`` is the date of the latest statutory visit at which the child was seen; a
        visit before the plan started does not count, so the clock runs from the start date.
        """
        if last_seen is None or last_seen < plan_start:
            return (self.first or self.every).after(plan_start)
        if self.after_first_year and last_seen >= plan_start + relativedelta(years=1):
            return self.after_first_year.after(last_seen)
        return self.every.after(last_seen)


def rules_from_config(overrides: Mapping[str, Mapping[str, str]]) -> dict[str, TimescaleRule]:
    """Merge a council's overrides (whole rules per plan type) over the defaults."""
    merged = {**DEFAULT_RULES, **{plan: dict(rule) for plan, rule in overrides.items()}}
    return {
        plan: TimescaleRule(
            every=Interval.parse(rule["every"]),
            first=Interval.parse(rule["first"]) if "first" in rule else None,
            after_first_year=(
                Interval.parse(rule["after_first_year"]) if "after_first_year" in rule else None
            ),
        )
        for plan, rule in merged.items()
    }


def next_visit_due(
    rules: Mapping[str, TimescaleRule], plan_type: str, plan_start: date, last_seen: date | None
) -> date:
    """Return the next statutory visit due date for a child on ``plan_type``."""
    return rules[plan_type].next_due(plan_start, last_seen)
