"""The record of a visit: the snapshot format every submission is kept in, owned by the visit.

A snapshot is plain JSON, independent of the API's shapes, numbered by ``FORMAT`` so that a
reader years from now knows how to read it. It holds what the worker recorded, per child, and
the evidence the version held (id, kind, child and the SHA-256 of the stored bytes, never the
file name), and is identified by the SHA-256 of its canonical JSON.

The child's "has views" rule lives here once: their own words, wishes and feelings, the Three
Houses, a scale, or a drawing of theirs on this visit. Everything else asks :func:`has_views`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from service.visits.models import Visit, VisitChild

FORMAT = 1
VIEW_TEXTS = ("own_words", "wishes_and_feelings", "good_things", "worries", "dreams")
CHILD_FIELDS = (
    "seen",
    "seen_alone",
    "not_seen_reason",
    "not_seen_detail",
    "not_seen_alone_reason",
    "not_seen_alone_detail",
    "bedroom_seen",
)
VISIT_FIELDS = (
    "visit_type",
    "announced",
    "location",
    "observations",
    "analysis",
    "next_actions",
    "amendment_reason",
)

VOICE_COLUMNS = {
    "own_words": "own_words",
    "wishes_and_feelings": "wishes_and_feelings",
    "good_things": "good_things",
    "worries": "worries",
    "dreams": "dreams",
    "method": "voice_method",
    "consent_to_share": "consent_to_share",
    "not_gathered_reason": "views_not_gathered_reason",
}


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def voice_of(row: VisitChild) -> dict[str, Any] | None:
    """The child's voice as the snapshot holds it, or None when nothing was recorded."""
    voice: dict[str, Any] = {name: getattr(row, column) for name, column in VOICE_COLUMNS.items()}
    voice["scale"] = (
        {"score": row.scale_score, "question": row.scale_question, "scored_by": row.scale_scored_by}
        if row.scale_score is not None
        else None
    )
    return voice if any(value is not None for value in voice.values()) else None


def child_entry(row: VisitChild) -> dict[str, Any]:
    """One child's part of the snapshot."""
    entry: dict[str, Any] = {"child_id": str(row.child_id)}
    entry.update({name: getattr(row, name) for name in CHILD_FIELDS})
    entry["voice"] = voice_of(row)
    return entry


def evidence_entry(
    attachment_id: Any, kind: str, child_id: Any, content_type: str, size: int, sha256: str | None
) -> dict[str, Any]:
    """One piece of evidence as a version lists it."""
    return {
        "id": str(attachment_id),
        "kind": kind,
        "child_id": str(child_id) if child_id else None,
        "content_type": content_type,
        "size": size,
        "sha256": sha256,
    }


def snapshot(visit: Visit, evidence: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The visit as it stands, in record format ``FORMAT``, holding ``evidence``."""
    record: dict[str, Any] = {
        "format": FORMAT,
        "visit_id": str(visit.id),
        "case_id": str(visit.case_id),
        "worker_id": str(visit.worker_id),
        "started_at": _time(visit.started_at),
        "ended_at": _time(visit.ended_at),
        "people_present": list(visit.people_present or []),
    }
    record.update({name: getattr(visit, name) for name in VISIT_FIELDS})
    record["children"] = [child_entry(row) for row in visit.children]
    record["evidence"] = sorted((dict(item) for item in evidence), key=lambda item: item["id"])
    return record


def digest(record: Mapping[str, Any]) -> str:
    """The SHA-256 of the snapshot's canonical JSON (sorted keys, no spaces, UTF-8)."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def has_views(entry: Mapping[str, Any], evidence: Iterable[Mapping[str, Any]]) -> bool:
    """Whether the child's views were captured: in words, the Three Houses, a scale, or a
    drawing of theirs held by the same version. Blank text does not count.
    """
    voice = entry.get("voice") or {}
    if any((voice.get(name) or "").strip() for name in VIEW_TEXTS):
        return True
    if (voice.get("scale") or {}).get("score") is not None:
        return True
    child_id = entry["child_id"]
    return any(item["kind"] == "drawing" and item["child_id"] == child_id for item in evidence)


def seen_alone(entry: Mapping[str, Any]) -> bool:
    """Seen, and seen alone."""
    return bool(entry.get("seen")) and bool(entry.get("seen_alone"))
