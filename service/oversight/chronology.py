"""A child's chronology: plan changes, every submitted visit (with their own words) and every
review decision, in time order, as JSON or as CSV for the case file.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import select

from service.auth.models import User
from service.cases.models import Case, Child, ChildPlanEvent
from service.columns import UTCDateTime
from service.extensions import db
from service.reviews.models import Review
from service.visits.models import RecordedChild, Visit

CSV_COLUMNS = ("at", "kind", "visit_id", "summary", "details")


VOICE = ("own_words", "wishes_and_feelings", "good_things", "worries", "dreams")
VISIT_COLUMNS = (
    RecordedChild.visit_id.label("id"),
    RecordedChild.started_at,
    RecordedChild.visit_type,
    RecordedChild.announced,
    RecordedChild.version_number,
    RecordedChild.entry,
    Visit.status,
    Visit.recorded_late,
    User.display_name.label("worker"),
)


def _visit_entry(row: Any) -> dict[str, Any]:
    entry = row.entry
    if entry["seen"]:
        seen = (
            "seen alone"
            if entry["seen_alone"]
            else f"seen, not alone ({entry['not_seen_alone_reason']})"
        )
    else:
        seen = f"not seen ({entry['not_seen_reason']})"
    recorded_voice = entry["voice"] or {}
    voice = {name: recorded_voice.get(name) for name in VOICE}
    voice["scale"] = recorded_voice.get("scale")
    voice.update(
        method=recorded_voice.get("method"),
        consent_to_share=recorded_voice.get("consent_to_share"),
        not_gathered_reason=recorded_voice.get("not_gathered_reason"),
    )
    return {
        "at": _utc(row.started_at),
        "kind": "visit",
        "visit_id": row.id,
        "summary": f"{row.visit_type} visit by {row.worker}: {seen}",
        "details": {
            "visit_type": row.visit_type,
            "announced": row.announced,
            "status": row.status,
            "version_number": row.version_number,
            "worker": row.worker,
            "seen": entry["seen"],
            "seen_alone": entry["seen_alone"],
            "not_seen_reason": entry["not_seen_reason"],
            "not_seen_detail": entry["not_seen_detail"],
            "not_seen_alone_reason": entry["not_seen_alone_reason"],
            "not_seen_alone_detail": entry["not_seen_alone_detail"],
            "bedroom_seen": entry["bedroom_seen"],
            "voice": {key: value for key, value in voice.items() if value is not None} or None,
            "recorded_late": row.recorded_late,
        },
    }


def _review_entry(row: Any) -> dict[str, Any]:
    summary = f"{row.decision} by {row.reviewer}"
    if row.management_action:
        summary += f"; management decision: {row.management_action} by {row.management_due_by}"
    due = row.management_due_by
    return {
        "at": _utc(row.decided_at),
        "kind": "review",
        "visit_id": row.visit_id,
        "summary": summary,
        "details": {
            "decision": row.decision,
            "reviewer": row.reviewer,
            "comment": row.comment,
            "management_action": row.management_action,
            "management_due_by": due.isoformat() if due else None,
            "version_number": row.version_number,
        },
    }


_UTC = UTCDateTime()


def _utc(moment: Any) -> datetime:
    """Column queries bypass the model's type on some drivers; make every time aware UTC."""
    return _UTC.process_result_value(moment, None)  # type: ignore[arg-type,return-value]


def chronology(child: Child) -> list[dict[str, Any]]:
    """Every event for ``child`` in time order, as submitted: each visit as its latest
    submitted version records the child (a draft, or an amendment not yet submitted, never
    shows), and every decision on those visits.

    Read as plain columns, not model objects: a child with hundreds of visits must stay fast.
    """
    visits = db.session.execute(
        select(*VISIT_COLUMNS)
        .join(Visit, Visit.id == RecordedChild.visit_id)
        .join(User, User.id == RecordedChild.worker_id)
        # A child shared with a case being purged: that case's visits are already gone.
        .join(Case, Case.id == Visit.case_id)
        .where(RecordedChild.child_id == child.id, Case.purging_since.is_(None))
    ).all()
    entries = [_visit_entry(row) for row in visits]
    visit_ids = [row.id for row in visits]
    if visit_ids:
        reviews = db.session.execute(
            select(
                Review.visit_id,
                Review.decision,
                Review.comment,
                Review.management_action,
                Review.management_due_by,
                Review.decided_at,
                Review.version_number,
                User.display_name.label("reviewer"),
            )
            .join(User, User.id == Review.reviewer_id)
            .join(RecordedChild, RecordedChild.visit_id == Review.visit_id)
            .where(RecordedChild.child_id == child.id, Review.visit_id.in_(visit_ids))
        )
        entries.extend(_review_entry(row) for row in reviews)
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


def as_json(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries as JSON-ready dicts (shaped as ``ChronologyEntrySchema`` documents).

    Serialised directly rather than through marshmallow: a long chronology is hundreds of
    entries, and per-field dumping was most of its response time.
    """
    return [
        {
            **entry,
            "at": entry["at"].isoformat(),
            "visit_id": str(entry["visit_id"]) if entry["visit_id"] else None,
        }
        for entry in entries
    ]


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
                spreadsheet_safe(entry["summary"]),
                spreadsheet_safe(details),
            ]
        )
    return out.getvalue()


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items() if v is not None) + "}"
    return str(value)


def spreadsheet_safe(text: str) -> str:
    """Neutralise spreadsheet formulas: a child's words must never run as one."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
