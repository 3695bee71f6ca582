"""Retention classes and disposal dates: plain Python, no Flask and no database.

Each case is kept for the period of its retention class, counted from a date of birth or from
the last contact, then it is due for disposal:

| class            | kept until                      | setting                                  |
|------------------|---------------------------------|------------------------------------------|
| looked_after     | the child's 75th birthday       | RETENTION_LOOKED_AFTER_AGE               |
| care_leaver      | 75 years from the child's birth | RETENTION_CARE_LEAVER_YEARS              |
| child_protection | 35 years after the last contact | RETENTION_CHILD_PROTECTION_YEARS         |
| child_in_need    | the 18th birthday plus 3 years  | RETENTION_CHILD_IN_NEED_AGE, _YEARS      |

A birthday on 29 February falls on 1 March in a year that has none (Family Law Reform Act 1969
s.9: an age is attained at the start of the anniversary, and a non-leap year's anniversary of
29 February is 1 March).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

RETENTION_CLASSES = ("looked_after", "care_leaver", "child_protection", "child_in_need")

# The class a plan type's records are kept under. A private fostering arrangement places a
# child away from their family, as care does; its records are kept as a looked-after child's
# (the longer period, so no record is disposed of early).
PLAN_CLASSES = {
    "looked_after": "looked_after",
    "private_fostering": "looked_after",
    "care_leaver": "care_leaver",
    "child_protection": "child_protection",
    "child_in_need": "child_in_need",
}


@dataclass(frozen=True)
class RetentionPeriods:
    """How long each class is kept, in whole years (each a setting)."""

    looked_after_age: int = 75
    care_leaver_years: int = 75
    child_protection_years: int = 35
    child_in_need_age: int = 18
    child_in_need_years: int = 3


def add_years(start: date, years: int) -> date:
    """``start`` moved on ``years`` years; 29 February lands on 1 March in a common year."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February in a year without one
        return date(start.year + years, 3, 1)


def class_for_plan(plan_type: str) -> str:
    """The retention class of a plan type's records."""
    return PLAN_CLASSES[plan_type]


def disposal_date(
    retention_class: str,
    periods: RetentionPeriods,
    *,
    date_of_birth: date | None,
    last_contact: date | None,
) -> date | None:
    """The first day the records of ``retention_class`` may be disposed of; None when the date
    it counts from is unknown (such a record is never due: it is kept, not guessed at).
    """
    if retention_class == "child_protection":
        return add_years(last_contact, periods.child_protection_years) if last_contact else None
    if date_of_birth is None:
        return None
    if retention_class == "looked_after":
        return add_years(date_of_birth, periods.looked_after_age)
    if retention_class == "care_leaver":
        return add_years(date_of_birth, periods.care_leaver_years)
    if retention_class == "child_in_need":
        birthday = add_years(date_of_birth, periods.child_in_need_age)
        return add_years(birthday, periods.child_in_need_years)
    raise ValueError(f"unknown retention class {retention_class!r}")


@dataclass(frozen=True)
class ChildOnCase:
    """What the disposal date needs to know of one child on a case."""

    plan_type: str
    date_of_birth: date | None


def case_retention(
    children: Iterable[ChildOnCase], last_contact: date | None, periods: RetentionPeriods
) -> tuple[str, date | None]:
    """A case's class and disposal date: those of the child whose records must be kept longest.

    One child whose date cannot be computed (no date of birth) keeps the whole case: the
    disposal date is then None. A case with no children is a child in need case with no date.
    """
    best: tuple[str, date | None] | None = None
    for child in children:
        retention_class = class_for_plan(child.plan_type)
        due = disposal_date(
            retention_class, periods, date_of_birth=child.date_of_birth, last_contact=last_contact
        )
        if due is None:
            return retention_class, None
        if best is None or (best[1] is not None and due > best[1]):
            best = (retention_class, due)
    return best or ("child_in_need", None)


def is_due(disposal: date | None, today: date) -> bool:
    """Whether records with this disposal date may be disposed of today."""
    return disposal is not None and disposal <= today
