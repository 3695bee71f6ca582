"""Submitting a visit: every rule checked, the record made, and the record kept queryable.

A submission claims the visit first (see ``lifecycle``), then builds the snapshot from what is
in the database at that moment, so no edit and no evidence can slip in between the checks and
the version. The snapshot is the record: ``visit_record_children`` is rewritten from it for the
visit, and the children's derived dates follow from that copy (``service.visits.derived``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, insert, select, update

from service.auth.models import User
from service.columns import utcnow
from service.errors import PreconditionFailed
from service.evidence.models import Attachment
from service.extensions import db
from service.timescales import add_working_days, local_date
from service.visits import lifecycle, record
from service.visits.lifecycle import Action, Status
from service.visits.models import RecordedChild, Visit, VisitVersion
from service.visits.operations import get_own_visit, raise_if_invalid
from service.visits.rules import submission_errors


def submit_visit(
    user: User, visit_id: uuid.UUID, if_match: str | None, *, at: datetime | None = None
) -> Visit:
    """Check every submission rule, snapshot a version, and update what derives from it.

    Submitting a visit that is already submitted from the version the caller names (or with no
    ``If-Match``) is a replay and answers the visit as it stands, also when two identical
    submits arrive at once.
    """
    visit = get_own_visit(user, visit_id)
    named = lifecycle.named_versions(if_match)
    if _is_replay(visit, named):
        return visit
    expected = lifecycle.expected_version(visit, if_match, required=False)
    now = at or utcnow()
    try:
        with lifecycle.transition(user, visit, Action.SUBMIT, expected=expected, at=now) as event:
            event.version = _make_version(user, visit, now)
            event.child_ids |= _keep_record(visit, event.version)
    except PreconditionFailed:
        if _is_replay(visit, named):
            return visit
        raise
    return visit


def _is_replay(visit: Visit, named: set[int] | None) -> bool:
    """Already submitted, and the caller's version is the one submitted or the one before."""
    if visit.status != Status.SUBMITTED:
        return False
    if named is None:
        return True
    submitted_as = db.session.scalar(
        select(func.max(VisitVersion.visit_version)).where(VisitVersion.visit_id == visit.id)
    )
    return submitted_as is not None and any(v >= submitted_as - 1 for v in named)


def evidence_held(visit_id: uuid.UUID) -> list[dict[str, Any]]:
    """The visit's evidence as its next version will list it: not withdrawn, not erased."""
    rows = db.session.execute(
        select(
            Attachment.id,
            Attachment.kind,
            Attachment.child_id,
            Attachment.content_type,
            Attachment.stored_size,
            func.coalesce(Attachment.stored_sha256, Attachment.sha256),
        ).where(
            Attachment.visit_id == visit_id,
            Attachment.withdrawn_at.is_(None),
            Attachment.erased_at.is_(None),
        )
    )
    return [record.evidence_entry(*row) for row in rows]


def _make_version(user: User, visit: Visit, now: datetime) -> VisitVersion:
    evidence = [] if lifecycle.holds_no_evidence(visit) else evidence_held(visit.id)
    snapshot = record.snapshot(visit, evidence)
    case_child_ids = [child.id for child in visit.case.children]
    raise_if_invalid(submission_errors(visit, snapshot, case_child_ids, now), "visit.incomplete")
    first = visit.submitted_at is None
    if first:
        visit.submitted_at = now
        visit.recorded_late = is_recorded_late(visit, now)
    visit.last_submitted_at = now
    latest = (
        None
        if first
        else db.session.scalar(
            select(func.max(VisitVersion.number)).where(VisitVersion.visit_id == visit.id)
        )
    )
    version = VisitVersion(
        visit_id=visit.id,
        number=int(latest or 0) + 1,
        visit_version=visit.version,
        submitted_at=now,
        submitted_by_id=user.id,
        amendment_reason=visit.amendment_reason,
        format=record.FORMAT,
        sha256=record.digest(snapshot),
        snapshot=snapshot,
    )
    db.session.add(version)
    held = [uuid.UUID(item["id"]) for item in evidence]
    if held:
        db.session.execute(
            update(Attachment)
            .where(Attachment.id.in_(held), Attachment.first_version.is_(None))
            .values(first_version=version.number)
            .execution_options(synchronize_session=False)
        )
    return version


def record_rows(
    visit_id: uuid.UUID, team_id: uuid.UUID | None, version: VisitVersion
) -> list[dict[str, Any]]:
    """The ``visit_record_children`` rows a version makes: one per child it records (with the
    visit's team, which the version does not hold).
    """
    snapshot = version.snapshot
    started_at = datetime.fromisoformat(snapshot["started_at"])
    return [
        {
            "visit_id": visit_id,
            "child_id": uuid.UUID(entry["child_id"]),
            "version_number": version.number,
            "worker_id": uuid.UUID(snapshot["worker_id"]),
            "team_id": team_id,
            "visit_type": snapshot["visit_type"],
            "announced": snapshot["announced"],
            "started_at": started_at,
            "seen": bool(entry["seen"]),
            "seen_alone": record.seen_alone(entry),
            "has_views": record.has_views(entry, snapshot["evidence"]),
            "entry": entry,
        }
        for entry in snapshot["children"]
    ]


def _keep_record(visit: Visit, version: VisitVersion) -> set[uuid.UUID]:
    """Replace the visit's rows in ``visit_record_children``; return every child touched."""
    previous: set[uuid.UUID] = set()
    if version.number > 1:
        previous = set(
            db.session.scalars(
                delete(RecordedChild)
                .where(RecordedChild.visit_id == visit.id)
                .returning(RecordedChild.child_id)
            )
        )
    rows = record_rows(visit.id, visit.team_id, version)
    if rows:
        db.session.execute(insert(RecordedChild), rows)
    return previous | {row["child_id"] for row in rows}


def is_recorded_late(visit: Visit, submitted_at: datetime) -> bool:
    """A statutory visit written up more than the allowed working days after it happened."""
    if visit.visit_type != "statutory":
        return False
    zone = current_app.config["LOCAL_TIMEZONE"]
    happened = local_date(visit.ended_at or visit.started_at, zone)
    allowed = add_working_days(happened, current_app.config["LATE_RECORDING_WORKING_DAYS"])
    return local_date(submitted_at, zone) > allowed
