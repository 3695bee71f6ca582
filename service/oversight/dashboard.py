"""The managers' dashboard: each team's last twelve months, month by month, and today's waits.

Every figure asks the rule where it lives: the seen and seen-alone counts and the late flag are
the ones the oversight summary adds up (``operations.statutory_visits``, ``late_recordings``,
``awaiting_review``); whether a visit was made within timescale is the flag ``visits.derived``
keeps on the record (``visit_record_children.in_time``, from ``timescales.timeliness``), added
up here in SQL. Months are the council's calendar months.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from flask import current_app
from sqlalchemy import case, func, select

from service.auth.models import Team, User
from service.cases.operations import today
from service.columns import utcnow
from service.extensions import db
from service.oversight.operations import awaiting_review, late_recordings, statutory_visits
from service.policy import visit_team_scope
from service.timescales import local_date
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
    for team_id, month, timed, in_time in _timeliness(user, months, zone):
        figures = team_months(team_id)[month]
        figures.timed_visits += timed
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


def _timeliness(user: User, months: list[date], zone: str) -> Iterable[tuple[Any, date, int, int]]:
    """Per team and month: how many children were seen on statutory visits counted for
    timescales, and at how many of those visits the child was seen by their due date (the flag
    ``visits.derived`` keeps on the record). Added up in SQL: each month is the range between
    the council's local midnights on its first day and the next month's, taken to UTC here, so
    SQLite and PostgreSQL agree on where a month ends.
    """
    local = ZoneInfo(zone)
    edges = [
        datetime.combine(start, time.min, tzinfo=local).astimezone(UTC)
        for start in [*months, months[-1] + relativedelta(months=1)]
    ]
    month = case(
        *((RecordedChild.started_at < edge, index) for index, edge in enumerate(edges[1:])),
        else_=None,
    ).label("month")
    query = (
        select(
            Visit.team_id,
            month,
            func.count(),
            func.count().filter(RecordedChild.in_time.is_(True)),
        )
        .join(Visit, Visit.id == RecordedChild.visit_id)
        .where(
            visit_team_scope(user),
            RecordedChild.in_time.is_not(None),
            RecordedChild.started_at >= edges[0],
            RecordedChild.started_at < edges[-1],
        )
        .group_by(Visit.team_id, month)
    )
    for team_id, index, timed, in_time in db.session.execute(query):
        yield team_id, months[index], timed, in_time


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
