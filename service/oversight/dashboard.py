"""The managers' dashboard: each team's last twelve months, month by month, and today's waits.

Every figure asks the rule where it lives: the seen and seen-alone counts and the late flag are
the ones the oversight summary adds up (``operations.statutory_visits``, ``late_recordings``,
``awaiting_review``); whether a visit was made within timescale is the flag ``visits.derived``
keeps on the record (``visit_record_children.in_time``, from ``timescales.timeliness``).
Every series is added up in SQL by team and month, each month the range between the council's
local midnights on its first day and the next month's (:func:`month_edges`); no visit is loaded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
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


def month_edges(months: list[date], zone: str) -> list[datetime]:
    """Where each of ``months`` begins and the last one ends: the council's local midnights on
    their first days, in UTC, so that SQLite and PostgreSQL agree on where a month ends.
    """
    local = ZoneInfo(zone)
    return [
        datetime.combine(start, time.min, tzinfo=local).astimezone(UTC)
        for start in [*months, months[-1] + relativedelta(months=1)]
    ]


def _month(moment: Any, edges: list[datetime]) -> Any:
    """In SQL: which of the months ``moment`` falls in (0 the oldest), NULL after the last;
    for rows already limited to ``moment >= edges[0]``.
    """
    return case(
        *((moment < edge, index) for index, edge in enumerate(edges[1:])), else_=None
    ).label("month")


def dashboard(user: User) -> dict[str, Any]:
    """The caller's teams' last twelve months and today's review waits.

    Returns ``months`` (first days, oldest first), ``teams`` (a :class:`TeamSeries` each,
    by name) and ``wait_bands`` (the labels of the wait counts). Every series is added up in
    SQL by team and month; a team shows if it has a visit counted since the oldest month
    began (even one whose month is not among the twelve) or one waiting for review.
    """
    zone = current_app.config["LOCAL_TIMEZONE"]
    months = month_starts(today())
    edges = month_edges(months, zone)
    series: dict[Any, dict[date, Month]] = {}

    def month_of(team_id: Any, index: int | None) -> Month | None:
        """The team's figures for month ``index``; None outside the twelve."""
        if team_id not in series:
            series[team_id] = {start: Month(start) for start in months}
        return None if index is None else series[team_id][months[index]]

    started = _month(Visit.started_at, edges)
    for team_id, index, children_seen, alone in db.session.execute(
        select(
            Visit.team_id,
            started,
            func.sum(Visit.children_seen),
            func.sum(Visit.children_seen_alone),
        )
        .where(*statutory_visits(user, edges[0]))
        .group_by(Visit.team_id, started)
    ):
        if figures := month_of(team_id, index):
            figures.children_seen += int(children_seen or 0)
            figures.seen_alone += int(alone or 0)
    submitted = _month(Visit.submitted_at, edges)
    for team_id, index, count in db.session.execute(
        select(Visit.team_id, submitted, func.count())
        .where(*late_recordings(user, edges[0]))
        .group_by(Visit.team_id, submitted)
    ):
        if figures := month_of(team_id, index):
            figures.late_recordings += count
    for team_id, index, timed, in_time in _timeliness(user, edges):
        if figures := month_of(team_id, index):
            figures.timed_visits += timed
            figures.in_time += in_time
    waits = _waits(user)
    for team_id in waits:
        month_of(team_id, None)  # a team whose only visits wait for review still shows
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
    """Per team, how many visits have waited for a decision for how long (by band), counted
    in SQL: a visit waiting ``days`` whole days (rounded down) falls in the first band whose
    limit it is within, so submitted after ``now - (limit + 1) days``; one submitted in the
    future, or with no submission time, in the first.
    """
    now = utcnow()
    since = Visit.last_submitted_at
    band = case(
        (since.is_(None), 0),
        *(
            (since > now - timedelta(days=upto + 1), index)
            for index, (upto, _) in enumerate(WAIT_BANDS)
            if upto is not None
        ),
        else_=len(WAIT_BANDS) - 1,
    ).label("band")
    waits: dict[Any, list[int]] = defaultdict(_no_waits)
    for team_id, index, count in db.session.execute(
        select(Visit.team_id, band, func.count())
        .where(*awaiting_review(user))
        .group_by(Visit.team_id, band)
    ):
        waits[team_id][index] += count
    return waits


def _timeliness(user: User, edges: list[datetime]) -> Iterable[tuple[Any, int | None, int, int]]:
    """Per team and month (its index in the twelve): how many children were seen on statutory
    visits counted for timescales, and at how many of those visits the child was seen by their
    due date (the flag ``visits.derived`` keeps on the record, beside the visit's team).
    """
    month = _month(RecordedChild.started_at, edges)
    query = (
        select(
            RecordedChild.team_id,
            month,
            func.count(),
            func.count().filter(RecordedChild.in_time.is_(True)),
        )
        .where(
            visit_team_scope(user, RecordedChild.team_id),
            RecordedChild.in_time.is_not(None),
            RecordedChild.started_at >= edges[0],
            RecordedChild.started_at < edges[-1],
        )
        .group_by(RecordedChild.team_id, month)
    )
    yield from db.session.execute(query)


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
