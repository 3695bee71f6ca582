"""A child's chronology: plan changes, every submitted visit (with their own words) and every
review decision, in time order, as JSON or as CSV for the case file.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import select

from service.cases.models import Child, ChildPlanEvent
from service.extensions import db
from service.reviews.models import Review
from service.visits.models import Visit, VisitChild

CSV_COLUMNS = ("at", "kind", "visit_id", "summary", "details")


def _visit_entry(visit: Visit, row: VisitChild) -> dict[str, Any]:
    if row.seen:
        seen = "seen alone" if row.seen_alone else f"seen, not alone ({row.not_seen_alone_reason})"
    else:
        seen = f"not seen ({row.not_seen_reason})"
    return {
        "at": visit.started_at,
        "kind": "visit",
        "visit_id": visit.id,
        "summary": f"{visit.visit_type} visit by {visit.worker.display_name}: {seen}",
        "details": {
            "visit_type": visit.visit_type,
            "announced": visit.announced,
            "status": visit.status,
            "worker": visit.worker.display_name,
            "seen": row.seen,
            "seen_alone": row.seen_alone,
            "not_seen_reason": row.not_seen_reason,
            "not_seen_detail": row.not_seen_detail,
            "not_seen_alone_reason": row.not_seen_alone_reason,
            "not_seen_alone_detail": row.not_seen_alone_detail,
            "bedroom_seen": row.bedroom_seen,
            "voice": row.voice,
            "recorded_late": visit.recorded_late,
        },
    }


def _review_entry(review: Review) -> dict[str, Any]:
    summary = f"{review.decision} by {review.reviewer.display_name}"
    if review.management_action:
        summary += (
            f"; management decision: {review.management_action} by {review.management_due_by}"
        )
    return {
        "at": review.decided_at,
        "kind": "review",
        "visit_id": review.visit_id,
        "summary": summary,
        "details": {
            "decision": review.decision,
            "reviewer": review.reviewer.display_name,
            "comment": review.comment,
            "management_action": review.management_action,
            "management_due_by": review.management_due_by.isoformat()
            if review.management_due_by
            else None,
            "version_number": review.version_number,
        },
    }


def chronology(child: Child) -> list[dict[str, Any]]:
    """Every event for ``child`` in time order (drafts never submitted are not part of it)."""
    visits = db.session.execute(
        select(Visit, VisitChild)
        .join(VisitChild, VisitChild.visit_id == Visit.id)
        .where(VisitChild.child_id == child.id, Visit.submitted_at.is_not(None))
    ).all()
    entries = [_visit_entry(visit, row) for visit, row in visits]
    visit_ids = [visit.id for visit, _ in visits]
    if visit_ids:
        reviews = db.session.scalars(select(Review).where(Review.visit_id.in_(visit_ids)))
        entries.extend(_review_entry(review) for review in reviews)
    plans = db.session.scalars(select(ChildPlanEvent).where(ChildPlanEvent.child_id == child.id))
    # A plan change sits at the date it took effect; when it was keyed in is in the details.
    entries.extend(
        {
            "at": datetime.combine(plan.plan_start_date, time.min, tzinfo=UTC),
            "kind": "plan",
            "visit_id": None,
            "summary": f"plan: {plan.plan_type} from {plan.plan_start_date}",
            "details": {
                "plan_type": plan.plan_type,
                "plan_start_date": plan.plan_start_date.isoformat(),
                "recorded_at": plan.recorded_at.isoformat(),
            },
        }
        for plan in plans
    )
    entries.sort(key=lambda entry: (entry["at"], entry["kind"]))
    return entries


def as_csv(entries: list[dict[str, Any]]) -> str:
    """The chronology as CSV, one row per event, details flattened to ``key=value`` pairs."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        details = "; ".join(
            f"{key}={_plain(value)}" for key, value in entry["details"].items() if value is not None
        )
        writer.writerow(
            [
                entry["at"].isoformat(),
                entry["kind"],
                entry["visit_id"] or "",
                _cell(entry["summary"]),
                _cell(details),
            ]
        )
    return out.getvalue()


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items() if v is not None) + "}"
    return str(value)


def _cell(text: str) -> str:
    """Neutralise spreadsheet formulas: a child's words must never run as one."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
