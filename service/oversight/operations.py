"""Who is overdue a visit, and how each team is doing. Everything is scoped to the caller.

The overdue list reads only children, their cases and teams: when a child was last seen and
is next due are kept on the child (and the due date on each of their case rows), so no visit
is scanned to answer it. The summary adds up counts kept on each visit at submission.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select

from service.auth.models import Team, User
from service.cases.models import Case, Child, case_children
from service.cases.operations import today
from service.columns import utcnow
from service.extensions import db
from service.oversight.chronology import spreadsheet_safe
from service.policy import caseload_entry_scope, visit_team_scope
from service.timescales import local_date
from service.visits.models import Visit


def _overdue_entries(user: User, filters: dict[str, Any], as_of: date, *columns: Any) -> Any:
    """The ``case_children`` rows in scope overdue (or due within N days), as ``columns``."""
    entry = case_children.c
    horizon = as_of
    if filters.get("within_days") is not None:
        horizon = as_of + timedelta(days=filters["within_days"] + 1)
    query = (
        select(*columns)
        .select_from(case_children)
        .where(caseload_entry_scope(user), entry.case_open.is_(True))
        .where(entry.next_visit_due < horizon)
    )
    if filters.get("team_id"):
        query = query.where(entry.team_id == filters["team_id"])
    if filters.get("worker_id"):
        query = query.where(entry.allocated_worker_id == filters["worker_id"])
    if filters.get("plan_type"):
        query = query.join(Child, Child.id == entry.child_id)
        query = query.where(Child.plan_type == filters["plan_type"])
    return query


def _orders() -> dict[str, tuple[Any, ...]]:
    entry = case_children.c
    return {
        "most_overdue": (entry.next_visit_due, entry.child_id, entry.case_id),
        "least_overdue": (entry.next_visit_due.desc(), entry.child_id, entry.case_id),
        "name": (Child.name, entry.next_visit_due, entry.child_id, entry.case_id),
        "name_desc": (Child.name.desc(), entry.next_visit_due, entry.child_id, entry.case_id),
    }


# The orders the overdue list can be read in; the first is the API's, from one index.
OVERDUE_ORDERS = ("most_overdue", "least_overdue", "name", "name_desc")


def overdue_query(
    user: User, filters: dict[str, Any], as_of: date, order: str = "most_overdue"
) -> Any:
    """(child, case) pairs in scope overdue (or due within N days), most overdue first (or in
    another of :data:`OVERDUE_ORDERS`).

    Driven by ``case_children``, which carries each case's team, worker and open flag and each
    child's next due date: a team's or a worker's page is read in order from one index.
    """
    entry = case_children.c
    query = _overdue_entries(user, filters, as_of, Child, Case)
    if not filters.get("plan_type"):
        query = query.join(Child, Child.id == entry.child_id)
    query = query.join(Case, Case.id == entry.case_id)
    return query.order_by(*_orders()[order])


def overdue_count(user: User, filters: dict[str, Any], as_of: date) -> int:
    """How many rows the overdue list has: counted on ``case_children`` alone."""
    return int(db.session.scalar(_overdue_entries(user, filters, as_of, func.count())) or 0)


def overdue_page(
    user: User, filters: dict[str, Any], pagination: Any, order: str = "most_overdue"
) -> list[dict[str, Any]]:
    """One page of the overdue list, with the total in ``pagination.item_count``."""
    as_of = today()
    query = overdue_query(user, filters, as_of, order)
    pagination.item_count = overdue_count(user, filters, as_of)
    if pagination.first_item >= pagination.item_count:
        return []
    rows = db.session.execute(query.limit(pagination.page_size).offset(pagination.first_item))
    return [_overdue_row(child, case, as_of) for child, case in rows]


def overdue_rows(
    user: User, filters: dict[str, Any], order: str = "most_overdue"
) -> Iterator[dict[str, Any]]:
    """Every row of the overdue list, read in batches (for a download)."""
    as_of = today()
    query = overdue_query(user, filters, as_of, order).execution_options(yield_per=500)
    for child, case in db.session.execute(query):
        yield _overdue_row(child, case, as_of)


OVERDUE_CSV = (
    "child_name",
    "core_person_ref",
    "date_of_birth",
    "plan_type",
    "core_ref",
    "team",
    "allocated_worker",
    "last_seen",
    "next_visit_due",
    "days_overdue",
    "never_seen",
)


def overdue_as_csv(rows: Iterable[dict[str, Any]], zone: str) -> str:
    """Overdue rows as CSV for a spreadsheet: dates as ISO dates (last seen where the council
    works), no cell able to run as a formula.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(OVERDUE_CSV)
    for row in rows:
        last, worker = row["last_seen_at"], row["allocated_worker"]
        values = (
            row["child_name"],
            row["core_person_ref"],
            row["date_of_birth"].isoformat() if row["date_of_birth"] else "",
            row["plan_type"],
            row["core_ref"],
            row["team"].name,
            worker.display_name if worker else "",
            local_date(last, zone).isoformat() if last else "",
            row["next_visit_due"].isoformat(),
            str(row["days_overdue"]),
            "yes" if row["never_seen"] else "no",
        )
        writer.writerow([spreadsheet_safe(value) for value in values])
    return out.getvalue()


def _overdue_row(child: Child, case: Case, as_of: date) -> dict[str, Any]:
    return {
        "child_id": child.id,
        "child_name": child.name,
        "core_person_ref": child.core_person_ref,
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


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def statutory_visits(user: User, since: datetime) -> tuple[ColumnElement[bool], ...]:
    """Submitted statutory visits since ``since`` counted for the caller's teams: what the
    seen and seen-alone rates add up (their counts kept on each visit at submission).
    """
    return (
        visit_team_scope(user),
        Visit.visit_type == "statutory",
        Visit.submitted_at.is_not(None),
        Visit.started_at >= since,
    )


def awaiting_review(user: User) -> tuple[ColumnElement[bool], ...]:
    """Visits of the caller's teams submitted and waiting for a decision."""
    return (visit_team_scope(user), Visit.status == "submitted")


def late_recordings(user: User, since: datetime) -> tuple[ColumnElement[bool], ...]:
    """Visits of the caller's teams first submitted since ``since`` and flagged recorded late
    (the flag is set once, at first submission, by the visit's own rule).
    """
    return (visit_team_scope(user), Visit.recorded_late.is_(True), Visit.submitted_at >= since)


def summary(user: User, days: int) -> dict[str, Any]:
    """Per team and in total: children, seen in time, seen alone, reviews, late recordings.

    Also children whose last three visits recorded none of their views. Visit-based figures
    cover the last ``days`` days and count for the team that held the case at the visit; a
    child on cases in two teams counts in each.
    """
    as_of, since = today(), utcnow() - timedelta(days=days)
    entry = case_children.c
    in_scope = (caseload_entry_scope(user), entry.case_open.is_(True))
    children = db.session.execute(
        select(entry.team_id, func.count(), func.count().filter(entry.next_visit_due >= as_of))
        .where(*in_scope)
        .group_by(entry.team_id)
    ).all()
    without_views = db.session.execute(
        select(entry.team_id, func.count())
        .join(Child, Child.id == entry.child_id)
        .where(*in_scope, Child.visits_without_views >= 3)
        .group_by(entry.team_id)
    ).all()
    seen = db.session.execute(
        select(Visit.team_id, func.sum(Visit.children_seen), func.sum(Visit.children_seen_alone))
        .where(*statutory_visits(user, since))
        .group_by(Visit.team_id)
    ).all()
    waiting = db.session.execute(
        select(Visit.team_id, func.count(), func.min(Visit.last_submitted_at))
        .where(*awaiting_review(user))
        .group_by(Visit.team_id)
    ).all()
    late = db.session.execute(
        select(Visit.team_id, func.count())
        .where(*late_recordings(user, since))
        .group_by(Visit.team_id)
    ).all()
    return _assemble(days, children, without_views, seen, waiting, late)


COUNTS = (
    "children",
    "seen_within_timescale",
    "children_without_views_in_last_3_visits",
    "statutory_visits_child_seen",
    "seen_alone",
    "awaiting_review",
    "late_recordings",
)


def _assemble(
    days: int, children: Any, without_views: Any, seen: Any, waiting: Any, late: Any
) -> dict[str, Any]:
    from service.columns import UTCDateTime

    rows: dict[Any, dict[str, Any]] = {}

    def row(team_id: Any) -> dict[str, Any]:
        return rows.setdefault(team_id, {**dict.fromkeys(COUNTS, 0), "oldest_waiting_since": None})

    for team_id, total, in_time in children:
        row(team_id).update(children=total, seen_within_timescale=in_time)
    for team_id, count in without_views:
        row(team_id)["children_without_views_in_last_3_visits"] = count
    for team_id, total, alone in seen:
        row(team_id).update(statutory_visits_child_seen=int(total or 0), seen_alone=int(alone or 0))
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
