"""The managers' dashboard at council scale (DESIGN.md §8), on PostgreSQL: before and after
every series was added up in SQL by team and month.

250,000 children and 2,500,000 visits (tests/perf/oversight_data.py) are generated at the
revision before the in-time flag, then migrated to head, which fills in the flag and the
visit's team on each recorded child (its time is printed). Then, in-process, for a supervisor
(one team) and the manager (all 20 teams), median and p95 of several runs:
- BEFORE: the whole dashboard as it was (kept below as ``old_dashboard``: the seen and
  seen-alone counts, late recordings and review waits loaded visit by visit and grouped by
  month in Python), and the in-time figures as they were before the flag (``old_timeliness``);
- AFTER: the whole dashboard (``dashboard.dashboard``) and its in-time figures alone.
Both ways must give the same figures for every team and month. It fails unless the whole
dashboard's p95 is under 1 s for a team and under 3 s for the manager.

    make bench     # or: .venv/bin/python -m pytest -o addopts="" tests/perf -s -k dashboard
    BENCH_DASHBOARD_DATABASE_URL=postgresql://...  # reuse a database generated earlier
"""

from __future__ import annotations

import bisect
import os
import statistics
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from argon2 import PasswordHasher
from flask import current_app
from flask_migrate import upgrade
from sqlalchemy import case, func, select, text

from service import create_app
from service.auth.models import User
from service.cases.models import Child, ChildPlanEvent
from service.cases.operations import timescale_rules, today
from service.columns import UTCDateTime, utcnow
from service.extensions import db
from service.oversight import dashboard
from service.oversight.operations import awaiting_review, late_recordings, statutory_visits
from service.policy import visit_team_scope
from service.timescales import local_date
from service.visits.derived import counts_for_timescales
from service.visits.models import RecordedChild, Visit
from tests.perf.harness import PostgresDatabase
from tests.perf.oversight_data import generate

CHILDREN = int(os.environ.get("BENCH_CHILDREN", "250000"))
RUNS_BEFORE = int(os.environ.get("BENCH_RUNS_BEFORE", "3"))
RUNS_AFTER = int(os.environ.get("BENCH_RUNS_AFTER", "10"))
BEFORE_FLAG = "0012_feedback_triage_notes"


def old_timeliness(user: User, since: datetime, zone: str) -> Iterable[tuple[Any, datetime, bool]]:
    """BEFORE (the dashboard's code until in_time was stored). For each child seen on a statutory visit since ``since`` (as the record has it): the
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
    # Chunked here: the dashboard's own single IN (...) failed for the manager at this scale
    # (over 65,535 bound parameters: PostgreSQL refuses the query).
    wanted = sorted(child_ids)
    rows = [
        row
        for start in range(0, len(wanted), 10000)
        for row in db.session.execute(
            select(
                ChildPlanEvent.child_id,
                ChildPlanEvent.plan_type,
                ChildPlanEvent.plan_start_date,
                ChildPlanEvent.recorded_at,
                ChildPlanEvent.id,
            ).where(ChildPlanEvent.child_id.in_(wanted[start : start + 10000]))
        )
    ]
    rows.sort(key=lambda row: (row[3], row[4]))
    for child_id, plan_type, start, _, _ in rows:
        # A plan set later replaces whatever the record said from its start date on (a new
        # plan, or a start date corrected backwards), so the list stays in date order.
        kept = [item for item in history[child_id] if item[0] < start]
        history[child_id] = [*kept, (start, plan_type)]
    return history


def timed(runs: int, work: Any) -> tuple[list[float], Any]:
    samples, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        samples.append(time.perf_counter() - started)
    return samples, result


def p95(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def summary(samples: list[float]) -> str:
    median = statistics.median(samples)
    return f"{median * 1000:>10.0f}{p95(samples) * 1000:>9.0f}   (n={len(samples)})"


def by_month_before(user: User, months: list[date], zone: str) -> Counter[tuple[Any, date, str]]:
    since = datetime.combine(
        months[0], datetime.min.time(), tzinfo=__import__("zoneinfo").ZoneInfo(zone)
    ).astimezone(UTC)
    counts: Counter[tuple[Any, date, str]] = Counter()
    for team_id, started_at, in_time in old_timeliness(user, since, zone):
        month = local_date(started_at, zone).replace(day=1)
        if month in months:
            counts[(team_id, month, "timed")] += 1
            counts[(team_id, month, "in_time")] += in_time
    return +counts


def by_month_after(user: User, months: list[date], zone: str) -> Counter[tuple[Any, date, str]]:
    counts: Counter[tuple[Any, date, str]] = Counter()
    edges = dashboard.month_edges(months, zone)
    for team_id, index, timed_visits, in_time in dashboard._timeliness(user, edges):
        counts[(team_id, months[index], "timed")] += timed_visits
        counts[(team_id, months[index], "in_time")] += in_time
    return +counts


def old_dashboard(user: User, months: list[date], zone: str) -> dict[Any, Any]:
    """BEFORE (the dashboard's code until every series was added up in SQL): each team's
    months as (month, seen, seen alone, timed, in time, late) and its waits, by team id.
    """
    edges = dashboard.month_edges(months, zone)
    series: dict[Any, dict[date, list[int]]] = {}

    def team_months(team_id: Any) -> dict[date, list[int]]:
        if team_id not in series:
            series[team_id] = {start: [0] * 5 for start in months}
        return series[team_id]

    def month_of(team_id: Any, moment: datetime) -> list[int] | None:
        return team_months(team_id).get(local_date(moment, zone).replace(day=1))

    for team_id, started_at, seen, alone in db.session.execute(
        select(Visit.team_id, Visit.started_at, Visit.children_seen, Visit.children_seen_alone)
        .where(*statutory_visits(user, edges[0]))
    ):  # fmt: skip
        if figures := month_of(team_id, started_at):
            figures[0] += seen
            figures[1] += alone
    for team_id, submitted_at in db.session.execute(
        select(Visit.team_id, Visit.submitted_at).where(*late_recordings(user, edges[0]))
    ):
        if submitted_at and (figures := month_of(team_id, submitted_at)):
            figures[4] += 1
    # The in-time flags as it added them up: the record joined to each visit for its team.
    month = case(
        *((RecordedChild.started_at < edge, index) for index, edge in enumerate(edges[1:]))
    ).label("month")
    for team_id, index, timed_visits, in_time in db.session.execute(
        select(Visit.team_id, month, func.count(), func.count().filter(RecordedChild.in_time))
        .join(Visit, Visit.id == RecordedChild.visit_id)
        .where(
            visit_team_scope(user),
            RecordedChild.in_time.is_not(None),
            RecordedChild.started_at >= edges[0],
            RecordedChild.started_at < edges[-1],
        )
        .group_by(Visit.team_id, month)
    ):
        team_months(team_id)[months[index]][2] += timed_visits
        team_months(team_id)[months[index]][3] += in_time
    now = utcnow()
    waits: dict[Any, list[int]] = defaultdict(lambda: [0] * len(dashboard.WAIT_BANDS))
    for team_id, submitted_at in db.session.execute(
        select(Visit.team_id, Visit.last_submitted_at).where(*awaiting_review(user))
    ):
        days = (now - submitted_at).days if submitted_at else 0
        band = next(
            i for i, (upto, _) in enumerate(dashboard.WAIT_BANDS) if upto is None or days <= upto
        )
        waits[team_id][band] += 1
        team_months(team_id)
    return {
        team_id: ([(month, *values) for month, values in by_month.items()], waits[team_id])
        for team_id, by_month in series.items()
    }


def new_dashboard(user: User) -> dict[Any, Any]:
    """AFTER, in the same shape as :func:`old_dashboard`."""
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


def prepared(settings: dict[str, Any], url: str) -> float:
    """Generate at the revision before the flag when empty; migrate to head (timed)."""
    app = create_app(settings)
    with app.app_context():
        empty = (
            not db.session.execute(text("SELECT to_regclass('children') IS NOT NULL")).scalar()
            or not db.session.execute(text("SELECT count(*) FROM children")).scalar()
        )
        db.session.remove()
        if empty:
            upgrade(revision=BEFORE_FLAG)
            started = time.perf_counter()
            print(f"\ngenerating {CHILDREN:,} children and {CHILDREN * 10:,} visits:")
            generate(url, CHILDREN, PasswordHasher(time_cost=1, memory_cost=1024).hash("bench"))
            print(f"  generated in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        upgrade()
        migrated = time.perf_counter() - started
        db.session.execute(text("ANALYZE visit_record_children"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return migrated


def measure(settings: dict[str, Any]) -> dict[str, list[float]]:
    app = create_app(settings)
    timings: dict[str, list[float]] = {}
    with app.app_context():
        zone = current_app.config["LOCAL_TIMEZONE"]
        months = dashboard.month_starts(today())
        flagged = db.session.scalar(
            select(func.count())
            .select_from(RecordedChild)
            .where(RecordedChild.in_time.is_not(None))
        )
        print(f"\nvisits counted for timescales (flag set): {flagged:,}")
        for label, username in (
            ("team (supervisor1)", "supervisor1"),
            ("manager, 20 teams", "manager"),
        ):
            user = db.session.scalar(select(User).where(User.username == username))
            before, old = timed(RUNS_BEFORE, lambda u=user: by_month_before(u, months, zone))
            after, new = timed(RUNS_AFTER, lambda u=user: by_month_after(u, months, zone))
            assert old == +new, f"{label}: the stored flags disagree with the old computation"
            whole_before, old_whole = timed(
                RUNS_BEFORE, lambda u=user: old_dashboard(u, months, zone)
            )
            whole, new_whole = timed(RUNS_AFTER, lambda u=user: new_dashboard(u))
            assert old_whole == new_whole, f"{label}: the SQL series disagree with the old code"
            timed_visits = sum(v for k, v in new.items() if k[2] == "timed")
            print(f"{label}: {timed_visits:,} timed visits, same figures both ways")
            timings[f"BEFORE in-time figures, {label}"] = before
            timings[f"AFTER in-time figures, {label}"] = after
            timings[f"BEFORE whole dashboard, {label}"] = whole_before
            timings[f"AFTER whole dashboard, {label}"] = whole
            db.session.rollback()
        db.session.remove()
        db.engine.dispose()
    return timings


def test_dashboard_at_scale():
    reuse = os.environ.get("BENCH_DASHBOARD_DATABASE_URL")
    database = None if reuse else PostgresDatabase()
    url = reuse or database.__enter__().url
    try:
        settings = {
            "SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1)
        }
        migrated = prepared(settings, url)
        print(f"\nmigrating to head (fills in_time and the record's team): {migrated:.0f} s")
        timings = measure(settings)
    finally:
        if database is not None:
            database.__exit__(None, None, None)
    print(f"\n{'':<48}{'median ms':>10}{'p95 ms':>9}")
    for name, samples in timings.items():
        print(f"{name:<48}{summary(samples)}")
    # The targets: the whole dashboard's p95 under 1 s for a team, under 3 s for the manager.
    assert p95(timings["AFTER whole dashboard, team (supervisor1)"]) < 1.0
    assert p95(timings["AFTER whole dashboard, manager, 20 teams"]) < 3.0
