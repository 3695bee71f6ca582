"""The managers' dashboard: each team's last twelve months, month by month, and today's waits.

Every figure asks the rule where it lives: the seen and seen-alone counts and the late flag are
the ones the oversight summary adds up (``operations.statutory_visits``, ``late_recordings``,
``awaiting_review``); which visits count for timescales is ``visits.derived``'s rule; when a
visit was due is the timescale rule in force (``cases.operations.timescale_rules``). Months are
the council's calendar months; rows are grouped here rather than in SQL so that SQLite and
PostgreSQL agree on where a month ends.
"""

from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from flask import current_app
from sqlalchemy import func, select

from service.auth.models import Team, User
from service.cases.models import Child, ChildPlanEvent
from service.cases.operations import timescale_rules, today
from service.columns import UTCDateTime, utcnow
from service.extensions import db
from service.oversight.operations import awaiting_review, late_recordings, statutory_visits
from service.policy import visit_team_scope
from service.timescales import local_date
from service.visits.derived import counts_for_timescales
from service.visits.models import RecordedChild, Visit

MONTHS = 12
# How long visits have waited for a decision, in whole days: (up to and including, label).
WAIT_BANDS: tuple[tuple[int | None, str], ...] = (
    (2, "Up to 2 days"),
    (7, "3 to 7 days"),
    (14, "8 to 14 days"),
    (None, "Over 14 days"),
)


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


@dataclass
class Month:
    """One team's figures for one calendar month."""

    month: date
    children_seen: int = 0
    seen_alone: int = 0
    timed_visits: int = 0
    in_time: int = 0
    late_recordings: int = 0

    @property
    def seen_alone_pct(self) -> float | None:
        """Of the children seen on statutory visits, the share seen alone."""
        return _pct(self.seen_alone, self.children_seen)

    @property
    def in_time_pct(self) -> float | None:
        """Of the statutory visits at which a child was seen, the share made by their due date."""
        return _pct(self.in_time, self.timed_visits)


@dataclass
class TeamSeries:
    """A team's twelve months, oldest first, and the visits now waiting for its decision."""

    team: Team | None
    months: list[Month]
    waits: list[int] = field(default_factory=lambda: [0] * len(WAIT_BANDS))

    @property
    def name(self) -> str:
        """The team's name as people know it."""
        return self.team.display_name if self.team else "No team"

    @property
    def awaiting_review(self) -> int:
        """How many of its visits wait for a decision."""
        return sum(self.waits)


def month_starts(as_of: date, count: int = MONTHS) -> list[date]:
    """The first days of the last ``count`` calendar months, this one included, oldest first."""
    this_month = as_of.replace(day=1)
    return [this_month - relativedelta(months=back) for back in range(count - 1, -1, -1)]


def dashboard(user: User) -> dict[str, Any]:
    """The caller's teams' last twelve months and today's review waits.

    Returns ``months`` (first days, oldest first), ``teams`` (a :class:`TeamSeries` each,
    by name) and ``wait_bands`` (the labels of the wait counts).
    """
    zone = current_app.config["LOCAL_TIMEZONE"]
    months = month_starts(today())
    since = datetime.combine(months[0], time.min, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    series: dict[Any, dict[date, Month]] = {}

    def team_months(team_id: Any) -> dict[date, Month]:
        if team_id not in series:
            series[team_id] = {start: Month(start) for start in months}
        return series[team_id]

    def month_of(team_id: Any, moment: datetime) -> Month | None:
        """The team's figures for the month of ``moment``; None outside the twelve."""
        return team_months(team_id).get(local_date(moment, zone).replace(day=1))

    seen = db.session.execute(
        select(Visit.team_id, Visit.started_at, Visit.children_seen, Visit.children_seen_alone)
        .where(*statutory_visits(user, since))
    )  # fmt: skip
    for team_id, started_at, children_seen, alone in seen:
        if figures := month_of(team_id, started_at):
            figures.children_seen += children_seen
            figures.seen_alone += alone
    for team_id, submitted_at in db.session.execute(
        select(Visit.team_id, Visit.submitted_at).where(*late_recordings(user, since))
    ):
        if submitted_at and (figures := month_of(team_id, submitted_at)):
            figures.late_recordings += 1
    for team_id, started_at, in_time in _timeliness(user, since, zone):
        if figures := month_of(team_id, started_at):
            figures.timed_visits += 1
            figures.in_time += in_time
    waits = _waits(user)
    for team_id in waits:
        team_months(team_id)  # a team whose only visits wait for review still shows
    teams = {t.id: t for t in db.session.scalars(select(Team).where(Team.id.in_(list(series))))}
    result = [
        TeamSeries(teams.get(team_id), list(by_month.values()), waits.get(team_id, _no_waits()))
        for team_id, by_month in series.items()
    ]
    result.sort(key=lambda item: item.name)
    return {"months": months, "teams": result, "wait_bands": [label for _, label in WAIT_BANDS]}


def _no_waits() -> list[int]:
    return [0] * len(WAIT_BANDS)


def _waits(user: User) -> dict[Any, list[int]]:
    """Per team, how many visits have waited for a decision for how long (by band)."""
    now = utcnow()
    waits: dict[Any, list[int]] = defaultdict(_no_waits)
    for team_id, submitted_at in db.session.execute(
        select(Visit.team_id, Visit.last_submitted_at).where(*awaiting_review(user))
    ):
        days = (now - submitted_at).days if submitted_at else 0
        band = next(
            index for index, (upto, _) in enumerate(WAIT_BANDS) if upto is None or days <= upto
        )
        waits[team_id][band] += 1
    return waits


def _timeliness(user: User, since: datetime, zone: str) -> Iterable[tuple[Any, datetime, bool]]:
    """For each child seen on a statutory visit since ``since`` (as the record has it): the
    visit's team, when it started, and whether it was made by the date the child was due,
    counted from their previous such visit (or their plan's start) under the plan then in force.
    """
    counted = counts_for_timescales()
    previous = func.lag(RecordedChild.started_at, type_=UTCDateTime()).over(
        partition_by=RecordedChild.child_id,
        order_by=(RecordedChild.started_at, RecordedChild.visit_id),
    )
    recent = (
        select(RecordedChild.child_id)
        .join(Visit, Visit.id == RecordedChild.visit_id)
        .where(visit_team_scope(user), counted, RecordedChild.started_at >= since)
    )
    history = (
        select(
            RecordedChild.child_id,
            RecordedChild.visit_id,
            RecordedChild.started_at,
            previous.label("previous"),
        )
        .where(counted, RecordedChild.child_id.in_(recent))
        .subquery()
    )
    query = (
        select(
            history.c.child_id,
            history.c.started_at,
            history.c.previous,
            Visit.team_id,
            Child.plan_type,
            Child.plan_start_date,
        )
        .join(Visit, Visit.id == history.c.visit_id)
        .join(Child, Child.id == history.c.child_id)
        .where(visit_team_scope(user), history.c.started_at >= since)
    )
    # Core rows, not ORM rows: a manager's year is hundreds of thousands of them.
    rows = db.session.connection().execute(query).all()
    rules = timescale_rules()
    days = [local_date(row.started_at, zone) for row in rows]
    # The child's plan as it is now was in force from its start on (it was set last); only a
    # visit before that needs the plans that came before it.
    earlier = _plan_history(
        {row.child_id for row, day in zip(rows, days, strict=True) if day < row.plan_start_date}
    )
    for row, day in zip(rows, days, strict=True):
        plan_type, plan_start = row.plan_type, row.plan_start_date
        if day < plan_start:
            plan_type, plan_start = _in_force(earlier.get(row.child_id, []), day, row)
        last_seen = local_date(row.previous, zone) if row.previous else None
        due = rules[plan_type].next_due(plan_start, last_seen)
        yield row.team_id, row.started_at, day <= due


def _in_force(plans: list[tuple[date, str]], day: date, current: Any) -> tuple[str, date]:
    """The plan type and start in force on ``day`` from the child's plans in date order (the
    current plan when none had started by then).
    """
    index = bisect.bisect_right(plans, day, key=lambda item: item[0])
    if index == 0:
        return current.plan_type, current.plan_start_date
    start, plan_type = plans[index - 1]
    return plan_type, start


def _plan_history(child_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[tuple[date, str]]]:
    """Each child's plans as the record holds them now, in date order."""
    history: dict[uuid.UUID, list[tuple[date, str]]] = defaultdict(list)
    if not child_ids:
        return history
    for child_id, plan_type, start in db.session.execute(
        select(ChildPlanEvent.child_id, ChildPlanEvent.plan_type, ChildPlanEvent.plan_start_date)
        .where(ChildPlanEvent.child_id.in_(sorted(child_ids)))
        .order_by(ChildPlanEvent.recorded_at, ChildPlanEvent.id)
    ):
        # A plan set later replaces whatever the record said from its start date on (a new
        # plan, or a start date corrected backwards), so the list stays in date order.
        kept = [item for item in history[child_id] if item[0] < start]
        history[child_id] = [*kept, (start, plan_type)]
    return history


def month_label(month: date) -> str:
    """A month as a chart or table names it: "Dec 26"."""
    return month.strftime("%b %y")


def series_of(teams: list[TeamSeries], measure: str) -> list[dict[str, Any]]:
    """One chart series per team: its name and ``measure`` month by month (None: nothing to
    count that month).
    """
    return [
        {"name": item.name, "values": [getattr(month, measure) for month in item.months]}
        for item in teams
    ]


def count_scale(series: list[dict[str, Any]]) -> tuple[int, list[int]]:
    """The top of a count chart's scale and the ticks to rule: whole numbers, at least 4."""
    most = max((value or 0 for item in series for value in item["values"]), default=0)
    top = max(4, -(-most // 4) * 4)
    return top, [top * quarter // 4 for quarter in range(5)]
