"""Stamping changes for sync, and keeping the history of case allocations and plans.

Every transaction that changes a case, a child, or a visit's status (heard from the visit's
lifecycle) gets one sequence number from :class:`ChangeCounter` as it commits, written to those
rows' ``change_seq``. The counter row stays locked from the bump to the commit, so numbers are
issued in commit order: a reader that takes the committed counter value as its cursor has seen
every change up to it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, time
from itertools import chain
from typing import Any

from flask import Flask
from sqlalchemy import and_, event, insert, inspect, or_, select, update
from sqlalchemy.orm import Session

from service.cases.models import Case, CaseAllocation, Child, ChildPlanEvent, case_children
from service.columns import utcnow
from service.extensions import db
from service.sync.models import ChangeCounter
from service.visits.lifecycle import VisitEvent, visit_changed

PENDING = "sync_changed"


def _allocation_change(case: Case) -> tuple[bool, Any]:
    """Whether the allocated worker changed in this flush, and the new worker's id."""
    state = inspect(case)
    by_object = state.attrs.allocated_worker.history
    if by_object.added or by_object.deleted:
        worker = by_object.added[0] if by_object.added else None
        if worker is not None and worker.id is None:
            worker.id = uuid.uuid4()
        return True, worker.id if worker is not None else None
    by_id = state.attrs.allocated_worker_id.history
    if by_id.added or by_id.deleted:
        return True, by_id.added[0] if by_id.added else None
    return False, None


def _record_allocation(session: Session, case: Case) -> None:
    changed, worker_id = _allocation_change(case)
    if not changed and case not in session.new:
        return
    if case.id is None:
        case.id = uuid.uuid4()
    now = utcnow()
    if case not in session.new:
        session.execute(
            update(CaseAllocation)
            .where(CaseAllocation.case_id == case.id, CaseAllocation.allocated_until.is_(None))
            .values(allocated_until=now)
            .execution_options(synchronize_session=False)
        )
    if worker_id is None and case in session.new:
        worker_id = case.allocated_worker_id
    if worker_id is not None:
        # A new case counts as allocated from the day it opened, so visits made before it
        # reached this system still belong to its worker.
        start = now
        if case in session.new and case.opened_on is not None:
            start = datetime.combine(case.opened_on, time.min, tzinfo=UTC)
        session.add(CaseAllocation(case=case, worker_id=worker_id, allocated_from=start))


def _record_plan(session: Session, child: Child) -> None:
    state = inspect(child)
    changed = any(
        state.attrs[name].history.has_changes() for name in ("plan_type", "plan_start_date")
    )
    if child in session.new or changed:
        session.add(
            ChildPlanEvent(
                child=child, plan_type=child.plan_type, plan_start_date=child.plan_start_date
            )
        )


def _collect(session: Session, flush_context: Any, instances: Any) -> None:
    """Before each flush: note what sync must hear about, and record allocation changes."""
    pending: list[Any] = session.info.setdefault(PENDING, [])
    for obj in list(chain(session.new, session.dirty)):
        if isinstance(obj, Case):
            _record_allocation(session, obj)
        if isinstance(obj, Child):
            _record_plan(session, obj)
        if isinstance(obj, (Case, Child)) and (
            obj in session.new or session.is_modified(obj, include_collections=True)
        ):
            pending.append(obj)


def on_visit_changed(event: VisitEvent) -> None:
    """A visit whose status changed is a change the worker's tablet must hear about."""
    if event.previous_status is not None and event.visit.status != event.previous_status:
        db.session.info.setdefault(PENDING, []).append(event.visit)


def _next_seq(session: Session) -> int:
    bump = (
        update(ChangeCounter)
        .where(ChangeCounter.id == 1)
        .values(value=ChangeCounter.value + 1)
        .returning(ChangeCounter.value)
    )
    value = session.execute(bump).scalar()
    if value is None:  # a database whose counter row was never created
        session.execute(insert(ChangeCounter).values(id=1, value=1))
        value = 1
    return int(value)


def _stamp(session: Session) -> None:
    """Before commit: take the next sequence number and stamp every changed row with it.

    Only the outermost commit stamps: releasing a savepoint (one sync item) fires this hook too,
    and bumping then would lock the counter early and let this request's own cursor cover
    changes that are not committed yet.
    """
    if session.in_nested_transaction():
        return
    session.flush()
    changed = session.info.pop(PENDING, None)
    if not changed:
        return
    ids: defaultdict[Any, set[Any]] = defaultdict(set)
    for obj in changed:
        if inspect(obj).persistent:
            ids[type(obj)].add(obj.id)
    if not ids:
        return
    _refresh_caseload_entries(session, ids[Case], ids[Child])
    seq = _next_seq(session)
    for model, model_ids in ids.items():
        session.execute(
            update(model)
            .where(model.id.in_(model_ids))
            .values(change_seq=seq)
            .execution_options(synchronize_session=False)
        )


def _refresh_caseload_entries(session: Session, case_ids: set[Any], child_ids: set[Any]) -> None:
    """Copy team, worker, open/closed and next due onto the touched ``case_children`` rows."""
    if not case_ids and not child_ids:
        return
    entry = case_children.c
    session.execute(
        update(case_children)
        .where(or_(entry.case_id.in_(case_ids), entry.child_id.in_(child_ids)))
        .values(
            team_id=select(Case.team_id).where(Case.id == entry.case_id).scalar_subquery(),
            allocated_worker_id=select(Case.allocated_worker_id)
            .where(Case.id == entry.case_id)
            .scalar_subquery(),
            # A case being purged is closed to every derived list at once.
            case_open=select(and_(Case.status == "open", Case.purging_since.is_(None)))
            .where(Case.id == entry.case_id)
            .scalar_subquery(),
            next_visit_due=select(Child.next_visit_due)
            .where(Child.id == entry.child_id)
            .scalar_subquery(),
        )
    )


def _forget(session: Session, *args: Any) -> None:
    # A savepoint rolling back (one rejected sync item) must not forget the other items' changes.
    if not session.in_transaction():
        session.info.pop(PENDING, None)


def current_seq(session: Any) -> int:
    """The last committed sequence number: a cursor covering everything committed so far."""
    value = session.scalar(select(ChangeCounter.value).where(ChangeCounter.id == 1))
    return int(value or 0)


def init_app(app: Flask) -> None:
    """Listen on every session (once per process, however many apps are created)."""
    visit_changed.connect(on_visit_changed)
    if not event.contains(Session, "before_flush", _collect):
        event.listen(Session, "before_flush", _collect)
        event.listen(Session, "before_commit", _stamp)
        event.listen(Session, "after_rollback", _forget)
