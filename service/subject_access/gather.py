"""Gather one child's record from the database, before a byte of the export is sent.

Everything but the evidence bytes is read here, in the request (or the CLI command), so that a
database failure is the usual 503 and the stream itself needs no database. The record's text is
small (kilobytes per visit); the evidence files, which can be large, are only opened while the
zip streams.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, union

from service.auth.models import User
from service.cases.models import Case, CaseAllocation, Child, ChildPlanEvent
from service.evidence.models import Attachment
from service.extensions import db
from service.reviews.models import Review
from service.visits import record
from service.visits.lifecycle import EDITABLE
from service.visits.models import RecordedChild, Visit, VisitChild, VisitVersion
from service.visits.submission import evidence_held


@dataclass
class VisitRecord:
    """One visit that includes the child: its submitted versions and, if any, its live draft."""

    visit: Visit
    versions: list[VisitVersion]
    draft: dict[str, Any] | None


@dataclass
class ChildRecord:
    """Everything the export holds about one child, read in one go."""

    child: Child
    allocations: dict[uuid.UUID, list[CaseAllocation]]
    plan_events: list[ChildPlanEvent]
    visits: list[VisitRecord]
    reviews: list[Review]
    attachments: list[Attachment]
    names: dict[uuid.UUID, str] = field(default_factory=dict)

    def name_of(self, user_id: uuid.UUID | str | None) -> str | None:
        """A member of staff's display name, or None."""
        if user_id is None:
            return None
        return self.names.get(uuid.UUID(str(user_id)), "(unknown user)")


def _visit_ids(child: Child) -> list[uuid.UUID]:
    """Visits that may include the child: any visit they are on now or have evidence on, and any
    visit on one of their cases (a child taken off a visit stays in its earlier versions, which
    only the versions themselves can tell; see :func:`_includes`).
    """
    query = union(
        select(VisitChild.visit_id).where(VisitChild.child_id == child.id),
        select(RecordedChild.visit_id).where(RecordedChild.child_id == child.id),
        select(Attachment.visit_id).where(Attachment.child_id == child.id),
        select(Visit.id).where(Visit.case_id.in_([case.id for case in child.cases])),
    ).subquery()
    return list(db.session.scalars(select(query.c[0])))


def _includes(
    child_id: uuid.UUID, visit: Visit, versions: list[VisitVersion], files: list[Attachment]
) -> bool:
    """Whether the visit includes the child: now, in any submitted version, or by evidence."""
    mine = str(child_id)
    return (
        any(row.child_id == child_id for row in visit.children)
        or any(
            entry.get("child_id") == mine
            for version in versions
            for entry in version.snapshot.get("children") or []
        )
        or any(attachment.child_id == child_id for attachment in files)
    )


def _draft(visit: Visit, versions: list[VisitVersion]) -> dict[str, Any] | None:
    """The live working copy of a visit being written up, in the record format, if it differs
    from its last submitted version; None otherwise.

    Not part of the record (DESIGN §9), but personal data the service holds, so it is exported,
    labelled as a draft: a visit never submitted, one returned and being changed, or an
    amendment in progress. A visit returned and not yet changed has no draft.
    """
    if visit.status not in EDITABLE:
        return None
    working = record.snapshot(visit, evidence_held(visit.id))
    if versions and record.digest(working) == versions[-1].sha256:
        return None
    return working


def gather(child: Child) -> ChildRecord:
    """Read the child's whole record: cases, plan history, every version of every visit that
    includes them, every decision on those visits, and every file on those visits.
    """
    candidates = _visit_ids(child)
    versions: dict[uuid.UUID, list[VisitVersion]] = {visit_id: [] for visit_id in candidates}
    for version in db.session.scalars(
        select(VisitVersion)
        .where(VisitVersion.visit_id.in_(candidates))
        .order_by(VisitVersion.visit_id, VisitVersion.number)
    ):
        versions[version.visit_id].append(version)
    files: dict[uuid.UUID, list[Attachment]] = {visit_id: [] for visit_id in candidates}
    for attachment in db.session.scalars(
        select(Attachment)
        .where(Attachment.visit_id.in_(candidates))
        .order_by(Attachment.uploaded_at, Attachment.id)
    ):
        files[attachment.visit_id].append(attachment)
    visits = [
        visit
        for visit in db.session.scalars(
            select(Visit)
            .join(Case, Case.id == Visit.case_id)
            .where(Visit.id.in_(candidates), Case.purging_since.is_(None))  # being purged: absent
            .order_by(Visit.started_at, Visit.id)
        )
        if _includes(child.id, visit, versions[visit.id], files[visit.id])
    ]
    visit_ids = [visit.id for visit in visits]
    reviews = list(
        db.session.scalars(
            select(Review)
            .where(Review.visit_id.in_(visit_ids))
            .order_by(Review.decided_at, Review.id)
        )
    )
    # Every file on those visits: the child's, the whole visit's, and other children's (listed
    # as withheld on the redaction sheet; their bytes are never exported).
    attachments = [attachment for visit in visits for attachment in files[visit.id]]
    gathered = ChildRecord(
        child=child,
        allocations=_allocations(child),
        plan_events=list(
            db.session.scalars(
                select(ChildPlanEvent)
                .where(ChildPlanEvent.child_id == child.id)
                .order_by(ChildPlanEvent.recorded_at, ChildPlanEvent.id)
            )
        ),
        visits=[
            VisitRecord(visit, versions[visit.id], _draft(visit, versions[visit.id]))
            for visit in visits
        ],
        reviews=reviews,
        attachments=attachments,
    )
    gathered.names = _staff_names(_staff_ids(gathered))
    return gathered


def _allocations(child: Child) -> dict[uuid.UUID, list[CaseAllocation]]:
    allocations: dict[uuid.UUID, list[CaseAllocation]] = {case.id: [] for case in child.cases}
    for allocation in db.session.scalars(
        select(CaseAllocation)
        .where(CaseAllocation.case_id.in_(list(allocations)))
        .order_by(CaseAllocation.allocated_from, CaseAllocation.id)
    ):
        allocations[allocation.case_id].append(allocation)
    return allocations


def _staff_ids(gathered: ChildRecord) -> set[uuid.UUID]:
    ids: set[uuid.UUID | None] = set()
    for case in gathered.child.cases:
        ids.add(case.allocated_worker_id)
        ids.update(allocation.worker_id for allocation in gathered.allocations[case.id])
    for item in gathered.visits:
        ids.add(item.visit.worker_id)
        ids.update(version.submitted_by_id for version in item.versions)
        ids.update(uuid.UUID(version.snapshot["worker_id"]) for version in item.versions)
    ids.update(review.reviewer_id for review in gathered.reviews)
    for attachment in gathered.attachments:
        ids.update((attachment.uploaded_by_id, attachment.withdrawn_by_id, attachment.erased_by_id))
    return {user_id for user_id in ids if user_id is not None}


def _staff_names(ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return {row.id: row.display_name for row in rows}


def iso(moment: datetime | None) -> str | None:
    """A time as ISO 8601 (UTC as stored), or None."""
    return moment.isoformat() if moment else None
