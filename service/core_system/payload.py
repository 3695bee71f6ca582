"""The payload an approved visit is delivered as: contract ``seen-and-heard.core-visit/1``.

Built once, in the transaction that approved the visit, from the approved version's snapshot
(never from the live visit, which may already be a new draft by the time it is delivered).
The core system keys it by our visit UUID and version (``external_reference``); each child
carries the Standard Safeguarding Dataset facts, mapped to the council's codes, and the child's
own words and views as recorded. Evidence is linked, never sent.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping as MappingType
from datetime import datetime
from typing import Any

from service.cases.models import Case, Child
from service.core_system.mapping import Mapping
from service.reviews.models import Review
from service.timescales import local_date
from service.visits.models import Visit, VisitVersion

CONTRACT = "seen-and-heard.core-visit/1"
APPROVED = "visit.approved"
AMENDMENT_APPROVED = "visit.amendment_approved"
CHILD_DETAILS = (
    "seen",
    "seen_alone",
    "bedroom_seen",
    "not_seen_reason",
    "not_seen_detail",
    "not_seen_alone_reason",
    "not_seen_alone_detail",
)


def idempotency_key(visit_id: uuid.UUID, version_number: int) -> str:
    """The key the core system deduplicates on: one visit's one approved version."""
    return f"seen-and-heard:{visit_id}:v{version_number}"


def digest(payload: MappingType[str, Any]) -> str:
    """SHA-256 of the payload's canonical JSON: how a read-back is compared with what was sent."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def build(
    *,
    event: str,
    visit: Visit,
    case: Case,
    version: VisitVersion,
    review: Review,
    children: MappingType[str, Child],
    supersedes: int | None,
    mapping: Mapping,
    service_url: str,
    timezone: str,
) -> dict[str, Any]:
    """The payload for ``version`` of ``visit``, approved by ``review``."""
    record = version.snapshot
    started = datetime.fromisoformat(record["started_at"])
    visit_date = local_date(started, timezone)
    evidence_of: dict[str | None, list[dict[str, Any]]] = {}
    for item in record["evidence"]:
        evidence_of.setdefault(item["child_id"], []).append(item)
    return {
        "contract": CONTRACT,
        "event": event,
        "external_reference": {
            "system": "seen-and-heard",
            "visit_id": str(visit.id),
            "version": version.number,
            "record_sha256": version.sha256,
            "supersedes_version": supersedes,
        },
        "case": {"core_ref": case.core_ref},
        "visit": {
            "visit_type": record["visit_type"],
            "date": visit_date.isoformat(),
            "started_at": record["started_at"],
            "ended_at": record["ended_at"],
            "announced": mapping.flag(record["announced"]),
            "location": record["location"],
            "people_present": record["people_present"],
            "observations": record["observations"],
            "analysis": record["analysis"],
            "next_actions": record["next_actions"],
            "amendment_reason": record["amendment_reason"],
            "worker": {"username": visit.worker.username, "name": visit.worker.display_name},
            "submitted_at": version.submitted_at.isoformat(),
        },
        "children": [
            _child(entry, children[entry["child_id"]], record["visit_type"], visit_date, mapping)
            for entry in record["children"]
        ],
        "review": {
            "decision": review.decision,
            "decided_at": review.decided_at.isoformat(),
            "reviewer": {
                "username": review.reviewer.username,
                "name": review.reviewer.display_name,
            },
            "comment": review.comment,
            "management_decision": (
                {"action": review.management_action, "due_by": review.management_due_by.isoformat()}
                if review.management_action and review.management_due_by
                else None
            ),
        },
        "evidence": [
            _evidence(item, children, service_url)
            for items in evidence_of.values()
            for item in items
        ],
    }


def _child(
    entry: dict[str, Any], child: Child, visit_type: str, visit_date: Any, mapping: Mapping
) -> dict[str, Any]:
    details = {name: entry.get(name) for name in CHILD_DETAILS}
    for name in ("seen", "seen_alone", "bedroom_seen"):
        details[name] = mapping.flag(details[name])
    return {
        "person_ref": child.core_person_ref,
        "plan_type": child.plan_type,
        "case_note_type": mapping.case_note_type(visit_type, child.plan_type),
        "dataset": mapping.row(child.plan_type, visit_date, entry),
        **details,
        "voice": entry.get("voice"),
    }


def _evidence(
    item: dict[str, Any], children: MappingType[str, Child], service_url: str
) -> dict[str, Any]:
    child = children.get(item["child_id"]) if item["child_id"] else None
    return {
        "id": item["id"],
        "kind": item["kind"],
        "person_ref": child.core_person_ref if child else None,
        "content_type": item["content_type"],
        "size": item["size"],
        "sha256": item["sha256"],
        "href": f"{service_url.rstrip('/')}/api/v1/attachments/{item['id']}/content",
    }
