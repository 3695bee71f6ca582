"""What the record says about each child: last seen, last seen alone, next due, how many of
their latest visits in a row recorded none of their views, and whether each of their statutory
visits was made within timescale (``visit_record_children.in_time``).

Always recomputed from ``visit_record_children`` (the latest submitted version of every
visit), never nudged and never read from a draft, so a resubmission that takes a child off a
visit, or an amendment that changes what happened, moves the dates back as well as forward. A
child's whole history is recomputed each time: a visit synced late changes whether the next one
was in time, and so does a change to their plan (noted here whenever a child's plan type or
start date changes, however it was changed).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from flask import Flask, current_app
from sqlalchemy import ColumnElement, and_, event, func, inspect, select, update
from sqlalchemy.orm import Session

from service.cases.models import Child, ChildPlanEvent
from service.cases.operations import refresh_next_due, timescale_rules
from service.columns import UTCDateTime
from service.extensions import db
from service.timescales import local_date
from service.timescales.timeliness import Plan, plans_by_date, visits_in_time
from service.visits.lifecycle import VisitEvent, visit_changed
from service.visits.models import RecordedChild

# Children whose last visits in a row recorded none of their views are counted up to this.
VIEWS_WINDOW = 3
PENDING = "children_to_refresh"
PLAN_FIELDS = ("plan_type", "plan_start_date")
_UTC = UTCDateTime()


def counts_for_timescales() -> ColumnElement[bool]:
    """The one rule for which recorded visits count for a child's timescales (DESIGN.md §4):
    statutory visits at which the child was seen. A core group meeting never counts.
    """
    return and_(RecordedChild.seen.is_(True), RecordedChild.visit_type == "statutory")


def _aware(value: Any) -> Any:
    """Aggregates bypass the column type, so SQLite's naive datetimes need their UTC back."""
    return _UTC.process_result_value(value, db.engine.dialect)


def refresh_children(child_ids: Iterable[uuid.UUID]) -> None:
    """Recompute the derived fields of each child from the record, in five queries, and the
    in-time flag of each of their visits (writing only the flags that changed).
    """
    ids = sorted(set(child_ids))
    if not ids:
        return
    dates = {
        child_id: (last_seen, last_alone, last_statutory)
        for child_id, last_seen, last_alone, last_statutory in db.session.execute(
            select(
                RecordedChild.child_id,
                func.max(RecordedChild.started_at).filter(RecordedChild.seen.is_(True)),
                func.max(RecordedChild.started_at).filter(RecordedChild.seen_alone.is_(True)),
                func.max(RecordedChild.started_at).filter(counts_for_timescales()),
            )
            .where(RecordedChild.child_id.in_(ids))
            .group_by(RecordedChild.child_id)
        )
    }
    newest_first = (
        select(
            RecordedChild.child_id,
            RecordedChild.seen,
            RecordedChild.has_views,
            func.row_number()
            .over(
                partition_by=RecordedChild.child_id,
                order_by=(RecordedChild.started_at.desc(), RecordedChild.visit_id.desc()),
            )
            .label("place"),
        )
        .where(RecordedChild.child_id.in_(ids))
        .subquery()
    )
    latest: defaultdict[uuid.UUID, list[tuple[bool, bool]]] = defaultdict(list)
    plans: dict[uuid.UUID, Plan] = {}
    for child_id, seen, viewed, _ in db.session.execute(
        select(newest_first)
        .where(newest_first.c.place <= VIEWS_WINDOW)
        .order_by(newest_first.c.child_id, newest_first.c.place)
    ):
        latest[child_id].append((seen, viewed))
    for child in db.session.scalars(select(Child).where(Child.id.in_(ids)).order_by(Child.id)):
        last_seen, last_alone, last_statutory = dates.get(child.id, (None, None, None))
        child.last_seen_at = _aware(last_seen)
        child.last_seen_alone_at = _aware(last_alone)
        child.last_statutory_seen_at = _aware(last_statutory)
        child.visits_without_views = _streak(latest[child.id])
        refresh_next_due(child)
        plans[child.id] = (child.plan_start_date, child.plan_type)
    _refresh_in_time(plans)


def plan_histories(child_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Plan]]:
    """Each child's plans as the record holds them now, in date order."""
    recorded: defaultdict[uuid.UUID, list[Plan]] = defaultdict(list)
    for child_id, start, plan_type in db.session.execute(
        select(ChildPlanEvent.child_id, ChildPlanEvent.plan_start_date, ChildPlanEvent.plan_type)
        .where(ChildPlanEvent.child_id.in_(child_ids))
        .order_by(ChildPlanEvent.child_id, ChildPlanEvent.recorded_at, ChildPlanEvent.id)
    ):
        recorded[child_id].append((start, plan_type))
    return {child_id: plans_by_date(items) for child_id, items in recorded.items()}


def _refresh_in_time(current: dict[uuid.UUID, Plan]) -> None:
    """Recompute ``in_time`` for every visit of these children (their current plans given):
    the timescale rule's answer on each counted visit, NULL on every other.
    """
    ids = sorted(current)
    if not ids:
        return
    zone = current_app.config["LOCAL_TIMEZONE"]
    rules = timescale_rules()
    histories = plan_histories(ids)
    rows = db.session.execute(
        select(
            RecordedChild.child_id,
            RecordedChild.visit_id,
            RecordedChild.started_at,
            RecordedChild.in_time,
            counts_for_timescales().label("counts"),
        )
        .where(RecordedChild.child_id.in_(ids))
        .order_by(RecordedChild.child_id, RecordedChild.started_at, RecordedChild.visit_id)
    ).all()
    counted: defaultdict[uuid.UUID, list[Any]] = defaultdict(list)
    changes = []
    for row in rows:
        if row.counts:
            counted[row.child_id].append(row)
        elif row.in_time is not None:
            changes.append({"visit_id": row.visit_id, "child_id": row.child_id, "in_time": None})
    for child_id, visits in counted.items():
        days = [local_date(row.started_at, zone) for row in visits]
        flags = visits_in_time(days, histories.get(child_id, []), current[child_id], rules)
        changes.extend(
            {"visit_id": row.visit_id, "child_id": child_id, "in_time": flag}
            for row, flag in zip(visits, flags, strict=True)
            if row.in_time is not flag
        )
    if changes:
        db.session.execute(update(RecordedChild), changes)


def _streak(newest_first: list[tuple[bool, bool]]) -> int:
    """How many of the latest visits in a row recorded none of the child's views."""
    streak = 0
    for seen, viewed in newest_first:
        if seen and viewed:
            break
        streak += 1
    return streak


def on_visit_changed(event: VisitEvent) -> None:
    """A new version changes what the record says of its children: note them for settling."""
    if event.version is not None:
        db.session.info.setdefault(PENDING, set()).update(event.child_ids)


def settle() -> None:
    """Recompute the children noted since the last settling (once each, however many visits
    of theirs a sync batch submitted). Runs before every commit, and wherever a request must
    read the children's dates it has just changed.
    """
    refresh_children(db.session.info.pop(PENDING, ()))


def _note_plan_changes(session: Session, *args: Any) -> None:
    """A child whose plan type or start date changed needs their visits' in-time flags again
    (before each flush, and before settling: a commit settles before its last flush).
    """
    for obj in session.dirty:
        if isinstance(obj, Child) and obj.id is not None:
            state = inspect(obj)
            if any(state.attrs[name].history.has_changes() for name in PLAN_FIELDS):
                session.info.setdefault(PENDING, set()).add(obj.id)


def _settle_before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    _note_plan_changes(session)
    if session.info.get(PENDING):
        settle()


def _forget(session: Session, *args: Any) -> None:
    if not session.in_transaction():
        session.info.pop(PENDING, None)


def init_app(app: Flask) -> None:
    """Subscribe the children's derived dates to the visit's life, settled before each commit
    (before the sync change stamps, which must see them).
    """
    visit_changed.connect(on_visit_changed)
    if not event.contains(Session, "before_commit", _settle_before_commit):
        event.listen(Session, "before_commit", _settle_before_commit, insert=True)
        event.listen(Session, "before_flush", _note_plan_changes)
        event.listen(Session, "after_rollback", _forget)
