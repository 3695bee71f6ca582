"""What the record says about each child: last seen, last seen alone, next due, and how many
of their latest visits in a row recorded none of their views.

Always recomputed from ``visit_record_children`` (the latest submitted version of every
visit), never nudged and never read from a draft, so a resubmission that takes a child off a
visit, or an amendment that changes what happened, moves the dates back as well as forward.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from service.cases.models import Child
from service.cases.operations import refresh_next_due
from service.columns import UTCDateTime
from service.extensions import db
from service.visits.lifecycle import VisitEvent, visit_changed
from service.visits.models import RecordedChild

# Children whose last visits in a row recorded none of their views are counted up to this.
VIEWS_WINDOW = 3
_UTC = UTCDateTime()


def _aware(value: Any) -> Any:
    """Aggregates bypass the column type, so SQLite's naive datetimes need their UTC back."""
    return _UTC.process_result_value(value, db.engine.dialect)


def refresh_child(child: Child) -> None:
    """Recompute the child's derived fields from the record."""
    recorded = RecordedChild.child_id == child.id
    last_seen, last_alone, last_statutory = db.session.execute(
        select(
            func.max(RecordedChild.started_at).filter(RecordedChild.seen.is_(True)),
            func.max(RecordedChild.started_at).filter(RecordedChild.seen_alone.is_(True)),
            func.max(RecordedChild.started_at).filter(
                RecordedChild.seen.is_(True), RecordedChild.visit_type == "statutory"
            ),
        ).where(recorded)
    ).one()
    child.last_seen_at = _aware(last_seen)
    child.last_seen_alone_at = _aware(last_alone)
    child.last_statutory_seen_at = _aware(last_statutory)
    latest = db.session.execute(
        select(RecordedChild.seen, RecordedChild.has_views)
        .where(recorded)
        .order_by(RecordedChild.started_at.desc(), RecordedChild.visit_id.desc())
        .limit(VIEWS_WINDOW)
    ).all()
    streak = 0
    for seen, viewed in latest:
        if seen and viewed:
            break
        streak += 1
    child.visits_without_views = streak
    refresh_next_due(child)


def refresh_children(child_ids: Iterable[uuid.UUID]) -> None:
    """Recompute each child's derived fields."""
    ids = sorted(set(child_ids))
    if not ids:
        return
    for child in db.session.scalars(select(Child).where(Child.id.in_(ids)).order_by(Child.id)):
        refresh_child(child)


def on_visit_changed(event: VisitEvent) -> None:
    """A new version changes what the record says: recompute the children it touched."""
    if event.version is not None:
        refresh_children(event.child_ids)


def init_app(app: Flask) -> None:
    """Subscribe the children's derived dates to the visit's life."""
    visit_changed.connect(on_visit_changed)
