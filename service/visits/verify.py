"""Check that everything derived from visits equals a full recomputation from the versions.

The recomputation here is deliberately a second, independent path: it reads every visit's
latest submitted snapshot and works the children's dates out in Python, where the service keeps
them up to date with SQL over ``visit_record_children`` (the in-time flags share only the
timescale rule itself, ``service.timescales.timeliness``, and the plans the record holds).
``flask --app wsgi visits verify-record`` runs it (``--repair`` rewrites what differs); the
property-based tests run it after every step.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, insert, select

from service.cases.models import Child
from service.cases.operations import refresh_next_due, timescale_rules
from service.extensions import db
from service.timescales import local_date
from service.timescales.timeliness import visits_in_time
from service.visits.derived import VIEWS_WINDOW, plan_histories
from service.visits.models import RecordedChild, Visit, VisitVersion
from service.visits.submission import record_rows

RECORD_COLUMNS = (
    "version_number",
    "worker_id",
    "team_id",
    "visit_type",
    "announced",
    "started_at",
    "seen",
    "seen_alone",
    "has_views",
    "in_time",
    "entry",
)
CHILD_DERIVED = (
    "last_seen_at",
    "last_seen_alone_at",
    "last_statutory_seen_at",
    "visits_without_views",
    "next_visit_due",
)


def latest_versions() -> Iterator[VisitVersion]:
    """Every visit's latest submitted version."""
    newest = (
        select(VisitVersion.visit_id, func.max(VisitVersion.number).label("number"))
        .group_by(VisitVersion.visit_id)
        .subquery()
    )
    yield from db.session.scalars(
        select(VisitVersion).join(
            newest,
            (newest.c.visit_id == VisitVersion.visit_id) & (newest.c.number == VisitVersion.number),
        )
    )


def expected_record() -> dict[tuple[uuid.UUID, uuid.UUID], dict[str, Any]]:
    """``visit_record_children`` as the versions say it should be, by (visit, child), with
    each counted visit's in-time flag worked out from the child's plans.
    """
    rows = {}
    teams = {
        visit_id: team_id
        for visit_id, team_id in db.session.execute(select(Visit.id, Visit.team_id))
    }
    for version in latest_versions():
        for row in record_rows(version.visit_id, teams.get(version.visit_id), version):
            rows[(row["visit_id"], row["child_id"])] = {**row, "in_time": None}
    _in_time(rows)
    return rows


def _in_time(rows: dict[tuple[uuid.UUID, uuid.UUID], dict[str, Any]]) -> None:
    """Set ``in_time`` on each statutory visit at which the child was seen, child by child."""
    counted: defaultdict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in rows.values():
        if row["seen"] and row["visit_type"] == "statutory":
            counted[row["child_id"]].append(row)
    if not counted:
        return
    zone = current_app.config["LOCAL_TIMEZONE"]
    ids = sorted(counted)
    histories = plan_histories(ids)
    current = {
        child_id: (start, plan_type)
        for child_id, start, plan_type in db.session.execute(
            select(Child.id, Child.plan_start_date, Child.plan_type).where(Child.id.in_(ids))
        )
    }
    for child_id, visits in counted.items():
        visits.sort(key=lambda row: (row["started_at"], row["visit_id"]))
        days = [local_date(row["started_at"], zone) for row in visits]
        plans = histories.get(child_id, [])
        flags = visits_in_time(days, plans, current[child_id], timescale_rules())
        for row, flag in zip(visits, flags, strict=True):
            row["in_time"] = flag


def _dates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    seen = [row for row in rows if row["seen"]]
    alone = [row["started_at"] for row in rows if row["seen_alone"]]
    statutory = [row["started_at"] for row in seen if row["visit_type"] == "statutory"]
    newest_first = sorted(rows, key=lambda row: (row["started_at"], row["visit_id"]), reverse=True)
    streak = 0
    for row in newest_first[:VIEWS_WINDOW]:
        if row["seen"] and row["has_views"]:
            break
        streak += 1
    return {
        "last_seen_at": max((row["started_at"] for row in seen), default=None),
        "last_seen_alone_at": max(alone, default=None),
        "last_statutory_seen_at": max(statutory, default=None),
        "visits_without_views": streak,
    }


def check_record(*, repair: bool = False) -> list[str]:
    """Every difference between what is stored and a full recomputation; fixed if ``repair``."""
    problems: list[str] = []
    expected = expected_record()
    stored = {
        (row.visit_id, row.child_id): row for row in db.session.scalars(select(RecordedChild))
    }
    for key in sorted(set(expected) | set(stored)):
        want, have = expected.get(key), stored.get(key)
        if have is None or want is None:
            problems.append(f"record of visit {key[0]} child {key[1]}: stored {have is not None}")
            continue
        for name in RECORD_COLUMNS:
            if getattr(have, name) != want[name]:
                problems.append(f"record of visit {key[0]} child {key[1]}: {name} differs")
    if problems and repair:
        db.session.execute(delete(RecordedChild))
        if expected:
            db.session.execute(insert(RecordedChild), list(expected.values()))
    by_child: defaultdict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for (_, child_id), row in expected.items():
        by_child[child_id].append(row)
    for child in db.session.scalars(select(Child).order_by(Child.id)):
        should = _dates(by_child.get(child.id, []))
        stored_values = {name: getattr(child, name) for name in CHILD_DERIVED}
        for name, value in should.items():
            setattr(child, name, value)
        refresh_next_due(child)
        should["next_visit_due"] = child.next_visit_due
        for name in CHILD_DERIVED:
            if stored_values[name] != should[name]:
                problems.append(
                    f"child {child.id}: {name} is {stored_values[name]}, should be {should[name]}"
                )
        if not repair:
            for name in CHILD_DERIVED:
                setattr(child, name, stored_values[name])
    problems += _summary_copies(repair)
    if not repair:
        db.session.expire_all()
    return problems


def _summary_copies(repair: bool) -> list[str]:
    """Differences between each visit's summary counts and its latest version."""
    problems = []
    versions = {version.visit_id: version for version in latest_versions()}
    for visit in db.session.scalars(select(Visit)):
        version = versions.get(visit.id)
        if version is None:
            continue
        children = version.snapshot["children"]
        seen = sum(1 for entry in children if entry["seen"])
        alone = sum(1 for entry in children if entry["seen"] and entry["seen_alone"])
        if (visit.children_seen, visit.children_seen_alone) != (seen, alone):
            problems.append(f"visit {visit.id}: seen counts differ from version {version.number}")
            if repair:
                visit.children_seen, visit.children_seen_alone = seen, alone
    return problems
