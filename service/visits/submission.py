"""Submitting a visit: every rule checked, a version snapshotted, the children's records updated.

What a submission changes for each child: when they were last seen (and seen alone), when the
next statutory visit is due, and how many visits in a row recorded none of their views. A first
submission only adds facts, so it moves these forward; a resubmission (after a return or an
amendment) may have changed what happened, so they are recomputed from the record.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select

from service.auth.models import User
from service.cases.models import Child
from service.cases.operations import note_seen, refresh_timescales
from service.columns import utcnow
from service.errors import Conflict
from service.extensions import db
from service.timescales import add_working_days, local_date
from service.visits.models import Visit, VisitChild, VisitVersion
from service.visits.operations import (
    EDITABLE,
    SNAPSHOT,
    check_precondition,
    get_own_visit,
    raise_if_invalid,
)
from service.visits.rules import submission_errors

VIEWS_WINDOW = 3


def submit_visit(user: User, visit_id: uuid.UUID, if_match: str | None) -> Visit:
    """Check every submission rule, snapshot a version, and update the children's records."""
    from service.evidence.operations import drawing_child_ids

    visit = get_own_visit(user, visit_id)
    check_precondition(visit, if_match, required=False)
    if visit.status == "submitted":
        return visit  # a retried submit: already done
    if visit.status not in EDITABLE:
        raise Conflict("visit.not_submittable", f"A {visit.status} visit cannot be submitted.")
    now = utcnow()
    case_child_ids = [child.id for child in visit.case.children]
    drew: set[uuid.UUID] = set()
    errors = submission_errors(visit, case_child_ids, now)
    if any(not row.has_views() for row in visit.children):
        # Drawings count as views; most visits have words, so most never need this query.
        drew = drawing_child_ids(visit.id)
        errors = submission_errors(visit, case_child_ids, now, drew)
    raise_if_invalid(errors, "visit.incomplete")
    first_submission = visit.submitted_at is None
    visit.status = "submitted"
    visit.escalated_at = None
    if first_submission:
        visit.submitted_at = now
        visit.recorded_late = is_recorded_late(visit, now)
    visit.last_submitted_at = now
    visit.children_seen = sum(1 for row in visit.children if row.seen)
    visit.children_seen_alone = sum(1 for row in visit.children if row.seen and row.seen_alone)
    visit.version += 1
    visit.updated_at = now
    _snapshot(visit, user, now, first_submission)
    for row in visit.children:
        if first_submission:
            _note_first_submission(visit, row, row.child_id in drew)
        else:
            refresh_timescales(row.child)
            refresh_views_streak(row.child)
    db.session.flush()
    return visit


def is_recorded_late(visit: Visit, submitted_at: datetime) -> bool:
    """A statutory visit written up more than the allowed working days after it happened."""
    if visit.visit_type != "statutory":
        return False
    zone = current_app.config["LOCAL_TIMEZONE"]
    happened = local_date(visit.ended_at or visit.started_at, zone)
    allowed = add_working_days(happened, current_app.config["LATE_RECORDING_WORKING_DAYS"])
    return local_date(submitted_at, zone) > allowed


def _snapshot(visit: Visit, user: User, now: datetime, first_submission: bool) -> None:
    count_versions = select(func.count()).where(VisitVersion.visit_id == visit.id)
    number = 0 if first_submission else db.session.scalar(count_versions)
    db.session.add(
        VisitVersion(
            visit_id=visit.id,
            number=int(number or 0) + 1,
            visit_version=visit.version,
            submitted_at=now,
            submitted_by_id=user.id,
            amendment_reason=visit.amendment_reason,
            snapshot=SNAPSHOT.dump(visit),
        )
    )


def _note_first_submission(visit: Visit, row: VisitChild, drew: bool) -> None:
    child = row.child
    if row.seen:
        note_seen(
            child,
            visit.started_at,
            alone=bool(row.seen_alone),
            statutory=visit.visit_type == "statutory",
        )
    viewed = bool(row.seen) and (row.has_views() or drew)
    child.visits_without_views = 0 if viewed else child.visits_without_views + 1


def refresh_views_streak(child: Child) -> None:
    """Recount the child's latest submitted visits in a row without their views (up to 3)."""
    from service.evidence.operations import drawing_child_ids

    latest = db.session.execute(
        select(VisitChild, Visit.id)
        .join(Visit, Visit.id == VisitChild.visit_id)
        .where(VisitChild.child_id == child.id, Visit.submitted_at.is_not(None))
        .order_by(Visit.started_at.desc())
        .limit(VIEWS_WINDOW)
    ).all()
    streak = 0
    for row, visit_id in latest:
        viewed = bool(row.seen) and (row.has_views() or child.id in drawing_child_ids(visit_id))
        if viewed:
            break
        streak += 1
    child.visits_without_views = streak
