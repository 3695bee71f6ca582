"""Whether each of a child's statutory visits was made within timescale (DESIGN.md §4).

The one rule, used wherever the answer is stored or checked (``visits.derived``, ``visits.verify``
and the migration that first filled it in): a visit counted for timescales was in time when it
happened by the date the child was due, counted from their previous counted visit (or from the
start of their plan) under the plan in force on the visit's day.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from service.timescales.rules import TimescaleRule

# A plan as the child's history has it: (start date, plan type).
Plan = tuple[date, str]


def plans_by_date(recorded: Iterable[Plan]) -> list[Plan]:
    """A child's plans in date order, from the plans in the order they were recorded.

    A plan set later replaces whatever the record said from its start date on (a new plan, or
    a start date corrected backwards), so the list stays in date order.
    """
    history: list[Plan] = []
    for start, plan_type in recorded:
        history = [*(item for item in history if item[0] < start), (start, plan_type)]
    return history


def plan_in_force(plans: Sequence[Plan], day: date, current: Plan) -> Plan:
    """The plan in force on ``day``: the child's plan as it is now from its start on (it was
    set last), else the latest of ``plans`` (in date order) started by then, else the current.
    """
    if day >= current[0]:
        return current
    index = bisect.bisect_right(plans, day, key=lambda item: item[0])
    return plans[index - 1] if index else current


def visits_in_time(
    days: Sequence[date],
    plans: Sequence[Plan],
    current: Plan,
    rules: Mapping[str, TimescaleRule],
) -> list[bool]:
    """For a child's visits counted for timescales (their local dates, in the order they
    happened), whether each was made by the date the child was due.
    """
    flags = []
    previous: date | None = None
    for day in days:
        start, plan_type = plan_in_force(plans, day, current)
        flags.append(day <= rules[plan_type].next_due(start, previous))
        previous = day
    return flags
