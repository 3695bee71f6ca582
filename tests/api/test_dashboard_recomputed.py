"""The dashboard's SQL series equal a plain recomputation, visit by visit, in Python.

A small random set of visits and recorded children is written straight into the tables (the
rules that set their flags are tested elsewhere): started, submitted and last submitted at
random moments over fourteen months and into the future, many of them a microsecond either
side of a local midnight where a month begins (in summer time and out of it), some with no
team. Every series, for the manager and for a supervisor, must come out the same as counting
them one by one with ``local_date`` and ``timedelta.days``.
"""

import random
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import insert, select

from service.auth.models import User
from service.columns import utcnow
from service.extensions import db
from service.oversight import dashboard
from service.timescales import local_date
from service.visits.models import RecordedChild, Visit

VISITS = 400


def _moments(rng: random.Random, now: datetime, zone: str) -> list[datetime]:
    """Random moments, and moments a microsecond either side of each local month start."""
    local = ZoneInfo(zone)
    first = local_date(now, zone).replace(day=1)
    edges = [
        datetime.combine(first - relativedelta(months=back), time.min, tzinfo=local).astimezone(UTC)
        for back in range(-1, 14)
    ]
    tick = timedelta(microseconds=1)
    return [
        *(edge + shift for edge in edges for shift in (-tick, 0 * tick, tick)),
        *(now - timedelta(seconds=rng.randint(-20 * 86400, 420 * 86400)) for _ in range(VISITS)),
        # Waits a microsecond either side of each band's limit.
        *(now - timedelta(days=days) + shift for days in (3, 8, 15) for shift in (-tick, tick)),
    ]


def _write(app: Any, world: Any, rng: random.Random) -> None:
    with app.app_context():
        zone = app.config["LOCAL_TIMEZONE"]
        now = utcnow()
        teams = [uuid.UUID(world.team_ids["a"]), uuid.UUID(world.team_ids["b"]), None]
        cases = {uuid.UUID(world.case_ids["a1"]): world.child_ids["a1"]}
        case_id, children = next(iter(cases.items()))
        worker = uuid.UUID(world.user_ids["worker_a"])
        moments = _moments(rng, now, zone)
        visits, recorded = [], []
        for index in range(len(moments)):
            visit_id = uuid.uuid4()
            team = rng.choice(teams)
            started = rng.choice(moments)
            submitted = rng.choice([None, rng.choice(moments), started + timedelta(days=3)])
            status = "draft" if submitted is None else rng.choice(["submitted", "approved"])
            seen = rng.randint(0, 2)
            visit_type = rng.choice(["statutory", "statutory", "review"])
            visits.append(
                {
                    "id": visit_id,
                    "case_id": case_id,
                    "worker_id": worker,
                    "visit_type": visit_type,
                    "started_at": started,
                    "people_present": [],
                    "status": status,
                    "version": 1,
                    "content_digest": f"{index:064d}",
                    "recorded_at": now,
                    "updated_at": now,
                    "submitted_at": submitted,
                    "last_submitted_at": (
                        rng.choice([submitted, rng.choice(moments)]) if submitted else None
                    ),
                    "recorded_late": submitted is not None and rng.random() < 0.3,
                    "team_id": team,
                    "children_seen": seen,
                    "children_seen_alone": rng.randint(0, seen),
                }
            )
            recorded.append(
                {
                    "visit_id": visit_id,
                    "child_id": uuid.UUID(rng.choice(children)),
                    "version_number": 1,
                    "worker_id": worker,
                    "team_id": team,
                    "visit_type": visit_type,
                    "announced": None,
                    "started_at": started,
                    "seen": True,
                    "seen_alone": True,
                    "has_views": True,
                    "in_time": rng.choice([None, True, False]),
                    "entry": {},
                }
            )
        db.session.execute(insert(Visit), visits)
        db.session.execute(insert(RecordedChild), recorded)
        db.session.commit()


def _recomputed(user: User, zone: str) -> dict[Any, Any]:
    """Every series counted one row at a time, as the rules read."""
    months = dashboard.month_starts(local_date(utcnow(), zone))
    since = datetime.combine(months[0], time.min, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    scope = user.team_ids if user.role == "supervisor" else None
    counts: dict[Any, dict[date, list[int]]] = defaultdict(
        lambda: {month: [0, 0, 0, 0, 0] for month in months}
    )
    waits: dict[Any, list[int]] = defaultdict(lambda: [0, 0, 0, 0])

    def add(team: Any, moment: datetime, column: int, amount: int) -> None:
        month = local_date(moment, zone).replace(day=1)
        figures = counts[team]  # a team counts once it has a row, in the twelve months or not
        if month in figures:
            figures[month][column] += amount

    now = utcnow()
    for visit in db.session.scalars(select(Visit)):
        if scope is not None and visit.team_id not in scope:
            continue
        if (
            visit.visit_type == "statutory"
            and visit.submitted_at is not None
            and visit.started_at >= since
        ):
            add(visit.team_id, visit.started_at, 0, visit.children_seen)
            add(visit.team_id, visit.started_at, 1, visit.children_seen_alone)
        if visit.recorded_late and visit.submitted_at is not None and visit.submitted_at >= since:
            add(visit.team_id, visit.submitted_at, 4, 1)
        if visit.status == "submitted":
            days = (now - visit.last_submitted_at).days if visit.last_submitted_at else 0
            band = 0 if days <= 2 else 1 if days <= 7 else 2 if days <= 14 else 3
            waits[visit.team_id][band] += 1
    for row in db.session.scalars(select(RecordedChild)):
        if scope is not None and row.team_id not in scope:
            continue
        month = local_date(row.started_at, zone).replace(day=1)
        if row.in_time is not None and month in months:
            add(row.team_id, row.started_at, 2, 1)
            add(row.team_id, row.started_at, 3, int(row.in_time))
    for team in waits:
        counts[team]  # a team whose only visits wait for review shows
    return {
        team: (
            [(month, *values) for month, values in by_month.items()],
            waits.get(team, [0, 0, 0, 0]),
        )
        for team, by_month in counts.items()
    }


def _from_dashboard(user: User) -> dict[Any, Any]:
    return {
        (item.team.id if item.team else None): (
            [
                (
                    m.month,
                    m.children_seen,
                    m.seen_alone,
                    m.timed_visits,
                    m.in_time,
                    m.late_recordings,
                )
                for m in item.months
            ],
            item.waits,
        )
        for item in dashboard.dashboard(user)["teams"]
    }


def test_sql_series_equal_a_recomputation(app, world):
    _write(app, world, random.Random(12))
    with app.app_context():
        zone = app.config["LOCAL_TIMEZONE"]
        for key in ("manager", "supervisor_a", "supervisor_b"):
            user = db.session.scalar(select(User).where(User.username == world.usernames[key]))
            expected = _recomputed(user, zone)
            assert _from_dashboard(user) == expected, key
            assert any(sum(m[3] for m in months) for months, _ in expected.values()), key
