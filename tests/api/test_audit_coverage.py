"""No endpoint can forget the trail: every API view says how it is audited, and every GET in
the OpenAPI document that shows child data writes an event naming the child.
"""

import re
import uuid

from sqlalchemy import select

from service.audit.models import AuditEvent
from service.audit.reads import MARK
from service.cases.models import Case
from service.extensions import db
from tests.factories import new_id, visit_body

# GET operations that show no child's data, and why. Anything else must name a child.
NO_CHILD_DATA = {
    "/me": "the caller's own account",
    "/devices": "tablets",
    "/admin/outbox": "delivery states, never payloads",
    "/audit": "the trail itself: ids, never content",
    "/audit/unusual": "the report on the trail",
    "/oversight/summary": "counts per team",
    "/feedback": "care leavers' feedback (audited as feedback reads)",
    "/feedback/summary": "suppressed aggregates",
    "/me/alerts": "kinds, counts and links: an alert names no child",
    "/me/alert-preferences": "the caller's own settings",
    "/alerts/urgent": "who was alerted and when: no child",
}


# What some GETs need to show anything at all.
QUERIES = {
    "/cases/lookup": "?core_ref={core_ref}",
    "/oversight/overdue": "?within_days=90",
    "/retention/due": "?as_of=2200-01-01",
}


def test_every_api_view_is_audited_or_says_why_not(app):
    unmarked = [
        endpoint
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        and not rule.rule.startswith(("/api/v1/docs", "/api/v1/openapi"))
        and (endpoint := rule.endpoint)
        and not hasattr(app.view_functions[endpoint], MARK)
    ]
    assert unmarked == []


def _records(app, world, worker, manager):
    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids["a1"])))
    visit_id = new_id()
    assert worker.put(f"/visits/{visit_id}", json=body).status_code == 201
    attachment_id = new_id()
    upload = worker.post(
        f"/visits/{visit_id}/attachments",
        data=b"%PDF-1.4\n%%EOF\n",
        headers={
            "Content-Type": "application/pdf",
            "X-Attachment-Id": attachment_id,
            "X-Attachment-Kind": "document",
            "X-Filename": "plan.pdf",
        },
    )
    assert upload.status_code == 201, upload.get_json()
    submitted = worker.post(f"/visits/{visit_id}/submit")
    assert submitted.status_code == 200
    decided = manager.post(
        f"/visits/{visit_id}/review",
        json={"decision": "return", "comment": "Please add the school's view."},
        headers={"If-Match": submitted.headers["ETag"]},
    )
    assert decided.status_code == 201, decided.get_json()
    with app.app_context():
        waiting = visit_body(db.session.get(Case, uuid.UUID(world.case_ids["a2"])))
    queued = new_id()
    assert worker.put(f"/visits/{queued}", json=waiting).status_code == 201
    assert worker.post(f"/visits/{queued}/submit").status_code == 200  # in the review queue
    with app.app_context():
        core_ref = db.session.get(Case, uuid.UUID(world.case_ids["a1"])).core_ref
    return {
        "visit_id": visit_id,
        "attachment_id": attachment_id,
        "case_id": world.case_ids["a1"],
        "child_id": world.child_ids["a1"][0],
        "number": "1",
        "core_ref": core_ref,
    }


def test_every_get_that_shows_a_child_names_the_child_in_the_trail(app, world, worker, sign_in):
    manager = sign_in(world.usernames["manager"])
    records = _records(app, world, worker, manager)
    with app.app_context():  # a closed case, so the retention due list has one to show
        db.session.get(Case, uuid.UUID(world.case_ids["b1"])).status = "closed"
        db.session.commit()
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    checked = []
    for full_path, operations in document["paths"].items():
        path = full_path.removeprefix("/api/v1")
        if "get" not in operations or path in NO_CHILD_DATA:
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: records[m.group(1)], path)
        url += QUERIES.get(path, "").format(**records)
        with app.app_context():
            last = db.session.scalar(select(db.func.max(AuditEvent.id))) or 0
        response = manager.get(url)  # a manager may read every one of them
        assert response.status_code == 200, (path, response.status_code)
        with app.app_context():
            named = db.session.scalars(
                select(AuditEvent.child_id).where(
                    AuditEvent.id > last, AuditEvent.child_id.is_not(None)
                )
            ).all()
        assert named, f"GET {path} showed child data but no audit event names a child"
        checked.append(path)
    assert len(checked) >= 10, checked
