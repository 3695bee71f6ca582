"""Who is overdue a visit, and how each team is doing. Everything is scoped to the caller.

The overdue list reads only children, their cases and teams: when a child was last seen and
is next due are kept on the child, so no visit is scanned to answer it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from service.auth.models import Team, User
from service.cases.models import Case, Child, case_children
from service.cases.operations import today
from service.columns import utcnow
from service.extensions import db
from service.policy import case_scope
from service.visits.models import Visit, VisitChild


def overdue_query(user: User, filters: dict[str, Any], as_of: date) -> Any:
    """(child, case) pairs in scope overdue (or due within N days), most overdue first."""
    horizon = (
        as_of
        if filters.get("within_days") is None
        else as_of + timedelta(days=filters["within_days"] + 1)
    )
    query = (
        select(Child, Case)
        .join(case_children, case_children.c.child_id == Child.id)
        .join(Case, Case.id == case_children.c.case_id)
        .where(case_scope(user), Case.status == "open", Child.next_visit_due < horizon)
    )
    if filters.get("team_id"):
        query = query.where(Case.team_id == filters["team_id"])
    if filters.get("worker_id"):
        query = query.where(Case.allocated_worker_id == filters["worker_id"])
    if filters.get("plan_type"):
        query = query.where(Child.plan_type == filters["plan_type"])
    return query.order_by(Child.next_visit_due, Child.id, Case.id)


def overdue_page(user: User, filters: dict[str, Any], pagination: Any) -> list[dict[str, Any]]:
    """One page of the overdue list, with the total in ``pagination.item_count``."""
    as_of = today()
    query = overdue_query(user, filters, as_of)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pagination.item_count = int(total or 0)
    if pagination.first_item >= pagination.item_count:
        return []
    rows = db.session.execute(query.limit(pagination.page_size).offset(pagination.first_item))
    return [
        {
            "child_id": child.id,
            "child_name": child.name,
            "date_of_birth": child.date_of_birth,
            "plan_type": child.plan_type,
            "plan_start_date": child.plan_start_date,
            "case_id": case.id,
            "core_ref": case.core_ref,
            "team": case.team,
            "allocated_worker": case.allocated_worker,
            "last_seen_at": child.last_seen_at,
            "last_seen_alone_at": child.last_seen_alone_at,
            "next_visit_due": child.next_visit_due,
            "days_overdue": (as_of - child.next_visit_due).days,
            "never_seen": child.last_statutory_seen_at is None,
        }
        for child, case in rows
    ]


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def summary(user: User, days: int) -> dict[str, Any]:
    """Per team and in total: children, seen in time, seen alone, reviews, late recordings.

    Also children whose last three visits recorded none of their views. Visit-based figures
    cover the last ``days`` days; a child on cases in two teams counts in each.
    """
    as_of, since = today(), utcnow() - timedelta(days=days)
    scope = (Case.status == "open", case_scope(user))
    children = db.session.execute(
        select(
            Case.team_id,
            func.count(),
            func.count().filter(Child.next_visit_due >= as_of),
            func.count().filter(Child.visits_without_views >= 3),
        )
        .select_from(Child)
        .join(case_children, case_children.c.child_id == Child.id)
        .join(Case, Case.id == case_children.c.case_id)
        .where(*scope)
        .group_by(Case.team_id)
    ).all()
    seen = db.session.execute(
        select(
            Case.team_id,
            func.count(),
            func.count().filter(VisitChild.seen_alone.is_(True)),
        )
        .select_from(Visit)
        .join(Case, Case.id == Visit.case_id)
        .join(VisitChild, VisitChild.visit_id == Visit.id)
        .where(
            case_scope(user),
            Visit.visit_type == "statutory",
            Visit.submitted_at.is_not(None),
            Visit.started_at >= since,
            VisitChild.seen.is_(True),
        )
        .group_by(Case.team_id)
    ).all()
    waiting = db.session.execute(
        select(Case.team_id, func.count(), func.min(Visit.last_submitted_at))
        .select_from(Visit)
        .join(Case, Case.id == Visit.case_id)
        .where(case_scope(user), Visit.status == "submitted")
        .group_by(Case.team_id)
    ).all()
    late = db.session.execute(
        select(Case.team_id, func.count())
        .select_from(Visit)
        .join(Case, Case.id == Visit.case_id)
        .where(case_scope(user), Visit.recorded_late.is_(True), Visit.submitted_at >= since)
        .group_by(Case.team_id)
    ).all()
    return _assemble(days, children, seen, waiting, late)


COUNTS = (
    "children",
    "seen_within_timescale",
    "children_without_views_in_last_3_visits",
    "statutory_visits_child_seen",
    "seen_alone",
    "awaiting_review",
    "late_recordings",
)


def _assemble(days: int, children: Any, seen: Any, waiting: Any, late: Any) -> dict[str, Any]:
    from service.columns import UTCDateTime

    rows: dict[Any, dict[str, Any]] = {}

    def row(team_id: Any) -> dict[str, Any]:
        return rows.setdefault(team_id, {**dict.fromkeys(COUNTS, 0), "oldest_waiting_since": None})

    for team_id, total, in_time, no_views in children:
        row(team_id).update(
            children=total,
            seen_within_timescale=in_time,
            children_without_views_in_last_3_visits=no_views,
        )
    for team_id, total, alone in seen:
        row(team_id).update(statutory_visits_child_seen=total, seen_alone=alone)
    utc = UTCDateTime()
    for team_id, count, oldest in waiting:
        oldest_at = utc.process_result_value(oldest, db.engine.dialect)
        row(team_id).update(awaiting_review=count, oldest_waiting_since=oldest_at)
    for team_id, count in late:
        row(team_id)["late_recordings"] = count
    teams = {t.id: t for t in db.session.scalars(select(Team).where(Team.id.in_(list(rows))))}
    per_team = [dict(values, team=teams.get(team_id)) for team_id, values in rows.items()]
    per_team.sort(key=lambda item: item["team"].name if item["team"] else "")
    waits = [item["oldest_waiting_since"] for item in per_team if item["oldest_waiting_since"]]
    total = {key: sum(item[key] for item in per_team) for key in COUNTS}
    total.update(team=None, oldest_waiting_since=min(waits) if waits else None)
    for item in [*per_team, total]:
        item["seen_within_timescale_pct"] = _pct(item["seen_within_timescale"], item["children"])
        item["seen_alone_pct"] = _pct(item["seen_alone"], item["statutory_visits_child_seen"])
    return {"period_days": days, "teams": per_team, "total": total}
