"""The words people read for the record's fields and codes: one table, for every page and diff.

A field of the snapshot (``record.FORMAT``) is named by its path: ``seen_alone``,
``voice.own_words``, ``voice.scale.score``. Codes (``not_seen_reason: child_not_home``) become
plain English; true and false become Yes and No; nothing recorded says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

NOT_RECORDED = "Not recorded"

FIELDS = {
    # The visit
    "visit_type": "Type of visit",
    "announced": "Announced",
    "location": "Where",
    "started_at": "Started",
    "ended_at": "Ended",
    "people_present": "People present",
    "observations": "Observations",
    "analysis": "Analysis",
    "next_actions": "Next actions",
    "amendment_reason": "Reason for the amendment",
    # Each child
    "seen": "Seen",
    "seen_alone": "Seen alone",
    "not_seen_reason": "Why not seen",
    "not_seen_detail": "Why not seen, in detail",
    "not_seen_alone_reason": "Why not seen alone",
    "not_seen_alone_detail": "Why not seen alone, in detail",
    "bedroom_seen": "Bedroom seen",
    # The voice of the child
    "voice.own_words": "In their own words",
    "voice.wishes_and_feelings": "Wishes and feelings",
    "voice.good_things": "House of good things",
    "voice.worries": "House of worries",
    "voice.dreams": "House of dreams",
    "voice.method": "How their views were gathered",
    "voice.consent_to_share": "Consent to share",
    "voice.not_gathered_reason": "Why their views were not gathered",
    "voice.scale.score": "Scale score (0 to 10)",
    "voice.scale.question": "Scale question",
    "voice.scale.scored_by": "Scale scored by",
}

VALUES: dict[str, dict[str, str]] = {
    "visit_type": {
        "statutory": "Statutory visit",
        "review": "Review visit",
        "core_group": "Core group meeting",
        "other": "Other visit",
    },
    "location": {"family_home": "The family home"},
    "not_seen_reason": {
        "child_not_home": "The child was not at home",
        "no_access": "No access to the home",
        "parent_refused": "A parent or carer refused",
        "child_refused": "The child refused",
        "other": "Another reason",
    },
    "not_seen_alone_reason": {
        "child_refused": "The child refused",
        "inappropriate_age_understanding": "Not appropriate for the child's age and understanding",
        "unable": "The worker was unable to",
        "parent_refused": "A parent or carer refused",
    },
    "voice.method": {
        "talking": "Talking",
        "drawing": "Drawing",
        "play": "Play",
        "app": "The app",
        "observation": "Observation (pre-verbal child)",
        "written": "Written by the child",
    },
    "voice.scale.scored_by": {
        "child": "The child",
        "parent": "A parent or carer",
        "worker": "The social worker",
    },
    "status": {
        "draft": "Draft",
        "submitted": "Awaiting review",
        "approved": "Approved",
        "returned": "Returned",
    },
    "kind": {
        "photo": "Photo",
        "drawing": "Drawing",
        "audio": "Audio recording",
        "video": "Video",
        "document": "Document",
    },
    "decision": {"approve": "Approved", "return": "Returned", "escalate": "Escalated"},
    "flag": {
        "not_seen": "Child not seen",
        "not_seen_alone": "Not seen alone",
        "no_views": "No views recorded",
        "late": "Recorded late",
        "amendment": "Amendment",
        "escalated": "Escalated",
    },
    "delivery": {
        "pending": "Waiting to be sent",
        "delivered": "Delivered",
        "failed": "Failed, will retry",
        "dead_letter": "Not delivered: an admin must retry it",
    },
}


def field_label(path: str) -> str:
    """The words for a field of the record, by its path (``voice.own_words``)."""
    return FIELDS.get(path, path.rsplit(".", 1)[-1].replace("_", " ").capitalize())


def value_label(path: str, value: Any, zone: str = "Europe/London") -> str:
    """The words for a value of a field: codes in plain English, Yes/No, dates in local time."""
    if value is None or value == "" or value == []:
        return NOT_RECORDED
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if path in ("started_at", "ended_at"):
        return moment(value, zone)
    words = VALUES.get(path, {})
    return words.get(str(value), str(value))


def moment(value: str | datetime, zone: str = "Europe/London") -> str:
    """A time as people in the council read it: ``20 November 2026, 10:05``, local time."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = when.astimezone(ZoneInfo(zone))
    return f"{local.day} {local:%B %Y, %H:%M}"
