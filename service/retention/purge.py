"""Purging a case whose retention period is over: its records, its stored evidence, and a
tombstone in the audit trail. The only code that deletes records (DESIGN.md §9).

A case is purged in three steps, each safe to repeat, so a crash anywhere leaves nothing
half-deleted and no object orphaned:

1. **Mark** (one transaction): ``purging_since`` is set, only if the case is not on legal hold
   (a conditional UPDATE, so a hold and a purge racing cannot both win). From this commit the
   case is absent everywhere (the policy layer answers 404; no list shows it), and its
   undelivered messages for the core system are deleted, so none is delivered afterwards.
2. **Objects**: every stored evidence object of the case's visits (and every cached thumbnail
   of one) is deleted from the store.
   Deleting a missing object is not an error, so a re-run simply deletes again.
3. **Rows and tombstone** (one transaction): the case's rows are deleted and the tombstone
   written; either all of it commits or none of it. Objects uploaded since step 2 (an upload
   already past its checks) are deleted here too, before the commit.

A re-run picks up cases already marked first. A child on another case that remains is kept,
with every record of theirs on that case; only the purged case's visits and files go, and the
child's derived dates are recomputed from what remains. A child on no remaining case is deleted
with their plan history and any care-leaver feedback linked to them.

The audit trail is append-only and is kept: its events hold ids, codes and field names, never
content, so they say who did what to which record without holding the record.
"""

from __future__ import annotations

import getpass
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import delete, func, or_, select, update

from service.audit.events import Action, Subject
from service.audit.trail import record
from service.auth.models import User
from service.cases.models import Case, CaseAllocation, Child, ChildPlanEvent, case_children
from service.columns import utcnow
from service.core_system.models import LocalDelivery, MessageStatus, OutboxMessage
from service.evidence.models import Attachment, thumbnail_key
from service.extensions import db
from service.feedback.models import Feedback, FeedbackInvite, FeedbackTriageNote
from service.retention.models import LegalHold
from service.retention.operations import is_due, record_counts
from service.reviews.models import Review
from service.sync.models import SyncReceipt
from service.visits.derived import refresh_children
from service.visits.models import RecordedChild, Visit, VisitChild, VisitVersion
from storage import EvidenceStore


@dataclass
class DueCase:
    """A case due for disposal, as a purge run shows it: ids, class, dates and counts only."""

    case_id: uuid.UUID
    retention_class: str
    disposal_date: date | None
    resuming: bool
    visits: int = 0
    objects: int = 0
    child_ids: list[uuid.UUID] = field(default_factory=list)


@dataclass
class Purged:
    """What one purge removed."""

    case_id: uuid.UUID
    visits: int
    objects: int
    children_deleted: list[uuid.UUID]
    children_kept: list[uuid.UUID]


def due_for_purge(limit: int | None = None, as_of: date | None = None) -> list[DueCase]:
    """What a purge run would take: cases already marked first (an earlier run stopped), then
    cases due and not on legal hold, oldest disposal date first.
    """
    query = (
        select(Case.id, Case.retention_class, Case.disposal_date, Case.purging_since)
        .where(
            or_(
                Case.purging_since.is_not(None),
                is_due(as_of) & Case.legal_hold.is_(False),
            )
        )
        .order_by(Case.purging_since.is_(None), Case.disposal_date, Case.id)
    )
    if limit is not None:
        query = query.limit(limit)
    due = [
        DueCase(case_id, retention_class, disposal, marked is not None)
        for case_id, retention_class, disposal, marked in db.session.execute(query)
    ]
    counts = record_counts([item.case_id for item in due])
    children = _children_of([item.case_id for item in due])
    for item in due:
        item.visits, item.objects = counts.get(item.case_id, (0, 0))
        item.child_ids = children.get(item.case_id, [])
    return due


def due_on_hold(as_of: date | None = None) -> int:
    """How many cases are due but on legal hold (a purge leaves them alone)."""
    held = (
        select(func.count())
        .select_from(Case)
        .where(
            is_due(as_of),
            Case.legal_hold.is_(True),
            Case.purging_since.is_(None),
        )
    )
    return int(db.session.scalar(held) or 0)


def _children_of(case_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    found: dict[uuid.UUID, list[uuid.UUID]] = {}
    for case_id, child_id in db.session.execute(
        select(case_children.c.case_id, case_children.c.child_id)
        .where(case_children.c.case_id.in_(case_ids))
        .order_by(case_children.c.child_id)
    ):
        found.setdefault(case_id, []).append(child_id)
    return found


def _visit_ids(case_id: uuid.UUID) -> list[uuid.UUID]:
    return list(db.session.scalars(select(Visit.id).where(Visit.case_id == case_id)))


def mark(case_id: uuid.UUID, as_of: date | None = None) -> bool:
    """Step 1: mark the case as being purged, if it is due and not on legal hold; commits.

    Returns False when the case is on hold, no longer due (a visit submitted since it was
    listed moved its date) or gone: nothing to do. A case already marked stays marked (a re-run).
    """
    due = is_due(as_of)
    marked = db.session.execute(
        update(Case)
        .where(
            Case.id == case_id,
            Case.legal_hold.is_(False),
            or_(Case.purging_since.is_not(None), due),
        )
        .values(
            purging_since=func.coalesce(Case.purging_since, utcnow()), updated_at=Case.updated_at
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if marked != 1:
        db.session.rollback()
        return False
    # Nothing derived shows it: the overdue list and summary read these copies.
    db.session.execute(
        update(case_children).where(case_children.c.case_id == case_id).values(case_open=False)
    )
    visit_ids = _visit_ids(case_id)
    if visit_ids:
        db.session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.visit_id.in_(visit_ids),
                OutboxMessage.status != MessageStatus.DELIVERED,
            )
        )
    db.session.commit()
    return True


def _object_keys(visit_ids: list[uuid.UUID]) -> list[str]:
    """The stored objects of these visits' evidence, with any cached thumbnails."""
    if not visit_ids:
        return []
    rows = db.session.execute(
        select(Attachment.store_key, Attachment.id, Attachment.kind, Attachment.content_type)
        .where(Attachment.visit_id.in_(visit_ids))
        .order_by(Attachment.store_key)
    )
    keys: list[str] = []
    for store_key, attachment_id, kind, content_type in rows:
        keys.append(store_key)
        thumbnail = thumbnail_key(attachment_id, kind, content_type)
        if thumbnail:
            keys.append(thumbnail)
    return keys


def delete_objects(case_id: uuid.UUID, store: EvidenceStore) -> int:
    """Step 2: delete every stored object of the case's visits, thumbnails included (a missing
    one is fine); return how many keys were deleted.
    """
    keys = _object_keys(_visit_ids(case_id))
    db.session.rollback()  # no transaction held open while the store works
    for key in keys:
        store.delete(key)
    return len(keys)


def delete_rows(
    case_id: uuid.UUID, store: EvidenceStore, actor: User | None = None
) -> Purged | None:
    """Step 3: delete the case's rows and write the tombstone, in one transaction; commits.

    ``actor`` is who ran the purge (the tombstone's actor; None for an unattended run).
    Returns None if another run purged it meanwhile.
    """
    case = db.session.execute(
        select(Case.retention_class, Case.disposal_date)
        .where(Case.id == case_id, Case.purging_since.is_not(None))
        .with_for_update()
    ).first()
    if case is None:
        db.session.rollback()
        return None
    visit_ids = _visit_ids(case_id)
    late_keys = _object_keys(visit_ids)
    counts = record_counts([case_id]).get(case_id, (0, 0))
    child_ids = [child_id for child_id in _children_of([case_id]).get(case_id, [])]
    _delete_visits(visit_ids)
    db.session.execute(delete(CaseAllocation).where(CaseAllocation.case_id == case_id))
    db.session.execute(delete(LegalHold).where(LegalHold.case_id == case_id))
    db.session.execute(delete(case_children).where(case_children.c.case_id == case_id))
    still_held = set(
        db.session.scalars(
            select(case_children.c.child_id).where(case_children.c.child_id.in_(child_ids))
        )
    )
    gone = [child_id for child_id in child_ids if child_id not in still_held]
    kept = [child_id for child_id in child_ids if child_id in still_held]
    _delete_children(gone)
    retention_class, disposal = case
    db.session.execute(delete(Case).where(Case.id == case_id))
    refresh_children(kept)
    subjects = [Subject("case", case_id, child_id) for child_id in child_ids]
    record(
        Action.PURGE,
        subjects or [Subject("case", case_id)],
        actor=actor,
        run_by_os_user=_os_user(),
        retention_class=retention_class,
        disposal_date=disposal.isoformat() if disposal else None,
        visits=counts[0],
        objects=counts[1],
        children_deleted=sorted(map(str, gone)),
        children_kept=sorted(map(str, kept)),
    )
    for key in late_keys:  # deleted in step 2; an object uploaded since would be orphaned
        store.delete(key)
    db.session.commit()
    return Purged(case_id, counts[0], counts[1], gone, kept)


def _delete_visits(visit_ids: list[uuid.UUID]) -> None:
    if not visit_ids:
        return
    in_case = OutboxMessage.visit_id.in_(visit_ids)
    db.session.execute(delete(OutboxMessage).where(in_case))
    db.session.execute(delete(LocalDelivery).where(LocalDelivery.visit_id.in_(visit_ids)))
    _delete_sync_receipts(visit_ids)
    for model in (Review, Attachment, RecordedChild, VisitVersion, VisitChild):
        db.session.execute(delete(model).where(model.visit_id.in_(visit_ids)))
    db.session.execute(delete(Visit).where(Visit.id.in_(visit_ids)))


def _delete_sync_receipts(visit_ids: Iterable[uuid.UUID]) -> None:
    """Receipts are a tablet's answers kept for replays; those naming a visit hold its content.

    A replay of such a batch is then processed afresh, and refused: its case is gone.
    """
    wanted = {str(visit_id) for visit_id in visit_ids}
    workers = select(Visit.worker_id).where(Visit.id.in_(list(visit_ids)))
    naming = [
        receipt_id
        for receipt_id, response in db.session.execute(
            select(SyncReceipt.id, SyncReceipt.response).where(SyncReceipt.user_id.in_(workers))
        )
        if any(visit_id in json.dumps(response) for visit_id in wanted)
    ]
    if naming:
        db.session.execute(delete(SyncReceipt).where(SyncReceipt.id.in_(naming)))


def _delete_children(child_ids: list[uuid.UUID]) -> None:
    """Children on no remaining case: their plan history, feedback linked to them (with its
    triage notes), and them.
    """
    if not child_ids:
        return
    invites = select(FeedbackInvite.id).where(FeedbackInvite.child_id.in_(child_ids))
    linked = or_(Feedback.child_id.in_(child_ids), Feedback.invite_id.in_(invites))
    db.session.execute(
        delete(FeedbackTriageNote).where(
            FeedbackTriageNote.feedback_id.in_(select(Feedback.id).where(linked))
        )
    )
    db.session.execute(delete(Feedback).where(linked))
    db.session.execute(delete(FeedbackInvite).where(FeedbackInvite.child_id.in_(child_ids)))
    db.session.execute(delete(ChildPlanEvent).where(ChildPlanEvent.child_id.in_(child_ids)))
    db.session.execute(delete(Child).where(Child.id.in_(child_ids)))


def purge(case_id: uuid.UUID, store: EvidenceStore, actor: User | None = None) -> Purged | None:
    """All three steps for one case; None when it is on legal hold or already gone."""
    if not mark(case_id):
        return None
    delete_objects(case_id, store)
    return delete_rows(case_id, store, actor)


def _os_user() -> str | None:
    try:
        return getpass.getuser()[:64]
    except (KeyError, OSError):  # no name for this uid (a container)
        return None
