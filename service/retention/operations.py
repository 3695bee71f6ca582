"""Each case's retention class and disposal date, kept current; legal holds; the due list.

The disposal date is derived, like a child's next visit due: it is recomputed from the case's
children (plan type, date of birth) and its submitted visits whenever one of those changes, in
the same transaction, and ``flask retention recompute`` recomputes every case (it always equals
that full recomputation). "Last contact" is the latest of the start of the case's latest
submitted visit and its closing date; a case with neither counts from the day it opened.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date
from itertools import chain, islice
from typing import Any

from flask import Flask, current_app
from sqlalchemy import ColumnElement, Select, and_, event, func, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from service.audit.events import Action, about_children
from service.audit.trail import record
from service.auth.models import User
from service.cases.models import Case, Child, case_children
from service.cases.operations import today
from service.columns import UTCDateTime, utcnow
from service.errors import Conflict, NotFound
from service.evidence.models import Attachment
from service.extensions import db
from service.policy import can_hold_case
from service.retention.models import LegalHold
from service.retention.periods import ChildOnCase, RetentionPeriods, case_retention
from service.timescales import local_date
from service.visits.lifecycle import VisitEvent, visit_changed
from service.visits.models import RecordedChild, Visit

PENDING = "retention_cases_to_refresh"
BATCH = 500
_UTC = UTCDateTime()
# What a disposal date is computed from: a change to any of these recomputes it.
CHILD_FIELDS = ("plan_type", "date_of_birth")
CASE_FIELDS = ("opened_on", "closed_on", "children")


def periods() -> RetentionPeriods:
    """The retention periods in force (settings)."""
    config = current_app.config
    return RetentionPeriods(
        looked_after_age=config["RETENTION_LOOKED_AFTER_AGE"],
        care_leaver_years=config["RETENTION_CARE_LEAVER_YEARS"],
        child_protection_years=config["RETENTION_CHILD_PROTECTION_YEARS"],
        child_in_need_age=config["RETENTION_CHILD_IN_NEED_AGE"],
        child_in_need_years=config["RETENTION_CHILD_IN_NEED_YEARS"],
    )


def _batches(ids: Iterable[uuid.UUID]) -> Iterator[list[uuid.UUID]]:
    items = iter(sorted(set(ids)))
    while batch := list(islice(items, BATCH)):
        yield batch


def _last_contacts(case_ids: list[uuid.UUID]) -> dict[uuid.UUID, date]:
    """The local date of each case's latest submitted visit (from the submitted versions)."""
    zone = current_app.config["LOCAL_TIMEZONE"]
    rows = db.session.execute(
        select(Visit.case_id, func.max(RecordedChild.started_at))
        .join(RecordedChild, RecordedChild.visit_id == Visit.id)
        .where(Visit.case_id.in_(case_ids))
        .group_by(Visit.case_id)
    )
    found = {}
    for case_id, latest in rows:
        moment = _UTC.process_result_value(latest, db.engine.dialect)
        if moment is not None:
            found[case_id] = local_date(moment, zone)
    return found


def recompute(case_ids: Iterable[uuid.UUID]) -> int:
    """Recompute the retention class and disposal date of each case; return how many changed.

    Written with plain UPDATEs that leave ``updated_at`` alone: retention bookkeeping is not a
    change the tablets must hear about.
    """
    changed = 0
    settings = periods()
    for batch in _batches(case_ids):
        children: defaultdict[uuid.UUID, list[ChildOnCase]] = defaultdict(list)
        for case_id, plan_type, born in db.session.execute(
            select(case_children.c.case_id, Child.plan_type, Child.date_of_birth)
            .join(Child, Child.id == case_children.c.child_id)
            .where(case_children.c.case_id.in_(batch))
        ):
            children[case_id].append(ChildOnCase(plan_type, born))
        contacts = _last_contacts(batch)
        for case_id, opened, closed, held_class, held_date in db.session.execute(
            select(
                Case.id, Case.opened_on, Case.closed_on, Case.retention_class, Case.disposal_date
            ).where(Case.id.in_(batch))
        ):
            known = [day for day in (contacts.get(case_id), closed) if day is not None]
            last_contact = max(known) if known else opened
            new_class, disposal = case_retention(children[case_id], last_contact, settings)
            if (new_class, disposal) == (held_class, held_date):
                continue
            changed += 1
            db.session.execute(
                update(Case)
                .where(Case.id == case_id)
                .values(
                    retention_class=new_class,
                    disposal_date=disposal,
                    updated_at=Case.updated_at,
                )
                .execution_options(synchronize_session=False)
            )
            _refresh_loaded(case_id, new_class, disposal)
    return changed


def _refresh_loaded(case_id: uuid.UUID, new_class: str, disposal: date | None) -> None:
    """Tell a copy of the case already loaded in this session what was written."""
    loaded = db.session.identity_map.get(db.session.identity_key(Case, case_id))
    if loaded is not None:
        set_committed_value(loaded, "retention_class", new_class)
        set_committed_value(loaded, "disposal_date", disposal)


def recompute_all() -> tuple[int, int]:
    """Recompute every case; return (cases, changed)."""
    ids = list(db.session.scalars(select(Case.id)))
    return len(ids), recompute(ids)


def _note(session: Session, *things: Any) -> None:
    session.info.setdefault(PENDING, set()).update(things)


def on_visit_changed(event: VisitEvent) -> None:
    """A submitted (or amended, re-submitted) version may move the case's last contact."""
    if event.version is not None:
        _note(db.session(), ("case", event.visit.case_id))


def _changed(obj: Any, names: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def _collect(session: Session, flush_context: Any, instances: Any) -> None:
    """Before each flush: note new cases and children, and changes to what the date needs."""
    for obj in chain(session.new, session.dirty):
        watched = CHILD_FIELDS if isinstance(obj, Child) else CASE_FIELDS
        if isinstance(obj, Child | Case) and (obj in session.new or _changed(obj, watched)):
            _note(session, obj)


def _case_ids(session: Session, noted: set[Any]) -> set[uuid.UUID]:
    case_ids: set[uuid.UUID] = set()
    child_ids: set[uuid.UUID] = set()
    for thing in noted:
        if isinstance(thing, tuple):
            case_ids.add(thing[1])
        elif inspect(thing).persistent:
            (child_ids if isinstance(thing, Child) else case_ids).add(thing.id)
    if child_ids:
        case_ids.update(
            session.scalars(
                select(case_children.c.case_id).where(case_children.c.child_id.in_(child_ids))
            )
        )
    return case_ids


def _settle_before_commit(session: Session) -> None:
    """Before the outermost commit: recompute the cases noted in this transaction."""
    if session.in_nested_transaction():
        return
    session.flush()  # a change not yet flushed is noted by the flush
    if not session.info.get(PENDING):
        return
    noted = session.info.pop(PENDING, set())
    recompute(_case_ids(session, noted))


def _forget(session: Session, *args: Any) -> None:
    if not session.in_transaction():
        session.info.pop(PENDING, None)


def init_app(app: Flask) -> None:
    """Keep disposal dates current: hear submitted versions, and watch cases and children."""
    visit_changed.connect(on_visit_changed)
    if not event.contains(Session, "before_flush", _collect):
        event.listen(Session, "before_flush", _collect)
        event.listen(Session, "before_commit", _settle_before_commit, insert=True)
        event.listen(Session, "after_rollback", _forget)


# Legal holds ---------------------------------------------------------------------------------


def case_for_hold(user: User, case_id: uuid.UUID) -> Case:
    """The case, if ``user`` may hold it; 404 as if missing otherwise (and when purging)."""
    case = db.session.get(Case, case_id)
    if case is None or not can_hold_case(user, case):
        raise NotFound("case.not_found", "No such case.")
    return case


def hold_history(case: Case) -> list[LegalHold]:
    """Every hold on the case, newest first."""
    return list(
        db.session.scalars(
            select(LegalHold)
            .where(LegalHold.case_id == case.id)
            .order_by(LegalHold.set_at.desc(), LegalHold.id.desc())
        )
    )


def _claim_hold(case: Case, held: bool) -> None:
    """Flip the flag in the database, or 409: of two racing requests (or a hold racing a purge
    starting) exactly one wins, because the row is changed only from the state it was read in.
    """
    claimed = db.session.execute(
        update(Case)
        .where(Case.id == case.id, Case.legal_hold.is_(not held), Case.purging_since.is_(None))
        .values(legal_hold=held, updated_at=Case.updated_at)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if claimed != 1:
        db.session.refresh(case)
        if case.purging_since is not None:
            raise NotFound("case.not_found", "No such case.")
        if held:
            raise Conflict("legal_hold.already_set", "The case is already on legal hold.")
        raise Conflict("legal_hold.not_set", "The case is not on legal hold.")
    set_committed_value(case, "legal_hold", held)


def _subjects(case: Case) -> Any:
    return about_children("case", case.id, [child.id for child in case.children])


def set_hold(user: User, case_id: uuid.UUID, reason: str) -> Case:
    """Put the case on legal hold, with a reason: no purge touches it until the hold is cleared."""
    case = case_for_hold(user, case_id)
    _claim_hold(case, True)
    hold = LegalHold(case_id=case.id, set_by_id=user.id, set_reason=reason, set_at=utcnow())
    db.session.add(hold)
    db.session.flush()
    record(Action.HOLD, _subjects(case), actor=user, hold_id=hold.id)
    return case


def clear_hold(user: User, case_id: uuid.UUID, reason: str) -> Case:
    """Lift the case's legal hold, with a reason; the hold stays in the history."""
    case = case_for_hold(user, case_id)
    _claim_hold(case, False)
    hold = db.session.scalars(
        select(LegalHold)
        .where(LegalHold.case_id == case.id, LegalHold.cleared_at.is_(None))
        .order_by(LegalHold.id.desc())
    ).first()
    if hold is None:  # a hold set before its history was kept (the migration's backfill)
        hold = LegalHold(case_id=case.id, set_by_id=user.id, set_reason="", set_at=utcnow())
        db.session.add(hold)
    hold.cleared_at, hold.cleared_by_id, hold.cleared_reason = utcnow(), user.id, reason
    db.session.flush()
    record(Action.RELEASE, _subjects(case), actor=user, hold_id=hold.id)
    return case


# The due list ----------------------------------------------------------------------------------


def is_due(as_of: date | None = None) -> ColumnElement[bool]:
    """A case is due when its disposal date has come and it is closed: an open case, whatever
    its date (a child in need past 21 may still be worked with), is never disposed of.
    """
    return and_(Case.disposal_date <= (as_of or today()), Case.status != "open")


def past_date_but_open(as_of: date | None = None) -> int:
    """How many cases have passed their disposal date but are still open (left alone)."""
    query = (
        select(func.count())
        .select_from(Case)
        .where(
            Case.disposal_date <= (as_of or today()),
            Case.status == "open",
            Case.purging_since.is_(None),
        )
    )
    return int(db.session.scalar(query) or 0)


def due_query(as_of: date | None = None, *, include_held: bool = True) -> Select[Any]:
    """Closed cases whose disposal date has come (by ``as_of``, default today), oldest date
    first. A case being purged is not listed: it is already absent.
    """
    query = select(Case).where(is_due(as_of), Case.purging_since.is_(None))
    if not include_held:
        query = query.where(Case.legal_hold.is_(False))
    return query.order_by(Case.disposal_date, Case.id)


def record_counts(case_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
    """(visits, evidence objects) per case."""
    visits = dict(
        db.session.execute(
            select(Visit.case_id, func.count())
            .where(Visit.case_id.in_(case_ids))
            .group_by(Visit.case_id)
        ).all()
    )
    objects = dict(
        db.session.execute(
            select(Visit.case_id, func.count())
            .join(Attachment, Attachment.visit_id == Visit.id)
            .where(Visit.case_id.in_(case_ids), Attachment.erased_at.is_(None))
            .group_by(Visit.case_id)
        ).all()
    )
    return {case_id: (visits.get(case_id, 0), objects.get(case_id, 0)) for case_id in case_ids}
