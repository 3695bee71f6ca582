"""Visits for the desk review tests, recorded, evidenced and submitted through the API."""

from __future__ import annotations

import uuid
from typing import Any

from service.cases.models import Case
from service.extensions import db
from tests.evidence_files import M4A, PDF, jpeg_with_gps
from tests.factories import new_id, visit_body

EVIDENCE = {
    "photo": (jpeg_with_gps(width=1200, height=900), "image/jpeg", "bedroom.jpg"),
    "audio": (M4A, "audio/mp4", "voice.m4a"),
    "document": (PDF, "application/pdf", "plan.pdf"),
}


def body_for(app: Any, case_id: str, **overrides: Any) -> dict[str, Any]:
    """A complete visit body for the case (every child seen alone, with their own words)."""
    with app.app_context():
        return visit_body(db.session.get(Case, uuid.UUID(case_id)), **overrides)


def attach(worker: Any, visit_id: str, kind: str, child_id: str | None = None) -> str:
    """Upload one file of ``kind`` onto the visit; return its id."""
    data, content_type, filename = EVIDENCE[kind]
    headers = {"X-Attachment-Id": new_id(), "X-Attachment-Kind": kind, "X-Filename": filename}
    if child_id:
        headers["X-Child-Id"] = child_id
    response = worker.post(
        f"/visits/{visit_id}/attachments", data=data, content_type=content_type, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def submitted_visit(
    app: Any,
    worker: Any,
    case_id: str,
    *,
    evidence: tuple[str, ...] = (),
    not_seen: bool = False,
    **overrides: Any,
) -> tuple[str, str]:
    """Record, evidence and submit a visit; return its id and ETag.

    ``not_seen``: its first child was not seen (so a decision needs a management decision).
    """
    body = body_for(app, case_id, **overrides)
    if not_seen:
        first = body["children"][0]
        body["children"][0] = {
            "child_id": first["child_id"],
            "seen": False,
            "not_seen_reason": "no_access",
            "not_seen_detail": "Nobody answered the door.",
        }
    visit_id = new_id()
    created = worker.put(f"/visits/{visit_id}", json=body)
    assert created.status_code == 201, created.get_json()
    for kind in evidence:
        attach(worker, visit_id, kind, body["children"][0]["child_id"])
    submitted = worker.post(f"/visits/{visit_id}/submit")
    assert submitted.status_code == 200, submitted.get_json()
    return visit_id, str(submitted.headers["ETag"])


def returned_and_resubmitted(
    app: Any, worker: Any, supervisor: Any, case_id: str, own_words: str
) -> tuple[str, str]:
    """A visit returned once and submitted again with the child's words changed (2 versions)."""
    visit_id, etag = submitted_visit(app, worker, case_id)
    returned = supervisor.post(
        f"/visits/{visit_id}/review",
        json={"decision": "return", "comment": "Add what the child said about school."},
        headers={"If-Match": etag},
    )
    assert returned.status_code == 201, returned.get_json()
    body = body_for(app, case_id)
    for child in body["children"]:
        child["voice"]["own_words"] = own_words
    updated = worker.put(
        f"/visits/{visit_id}", json=body, headers={"If-Match": returned.headers["ETag"]}
    )
    assert updated.status_code == 200, updated.get_json()
    submitted = worker.post(
        f"/visits/{visit_id}/submit", headers={"If-Match": updated.headers["ETag"]}
    )
    assert submitted.status_code == 200, submitted.get_json()
    return visit_id, str(submitted.headers["ETag"])
