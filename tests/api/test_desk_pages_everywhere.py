"""Every desk page, as every role: never a 500, always the security headers and no-store, never
another team's record, every form refused without its CSRF token, and any page that shows a
child's name has written that child's access log.

The pages are found from the app's URL map, so a page added later is checked without being
listed here; a page whose path takes an id this test does not know fails until it is taught.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from service.audit.models import AuditEvent
from service.auth.models import Device, User
from service.cases.models import Child
from service.core_system.models import OutboxMessage
from service.extensions import db
from service.feedback.models import Feedback
from tests.desk import desk_sign_in
from tests.evidence_files import jpeg_with_gps
from tests.factories import new_id, visit_body

ROLES = ("worker_a", "worker_b", "supervisor_a", "supervisor_b", "manager", "admin")
# Not pages of records: signing in, and the identity provider's redirects.
NOT_PAGES = {"auth_pages.sign_in", "oidc_pages.start", "oidc_pages.callback"}
# Records of team A (supervisor_b's team is B): never shown to supervisor_b.
TEAM_A_RECORDS = {"child_id", "visit_id", "attachment_id"}
# A child's access log is read by id, as the API's: an admin (as DPO) may, seeing no child record.
BY_ID_ONLY = {"audit_desk.child_access_log"}


@pytest.fixture
def records(app, world, sign_in) -> dict[str, Any]:
    """A submitted visit of team A with a photo, an approved one (an outbox message), a device,
    and a care leaver's response; the ids every page path can take.
    """
    worker = sign_in(world.usernames["worker_a"], device_id="tablet-everywhere")
    supervisor = sign_in(world.usernames["supervisor_a"])
    with app.app_context():
        from service.cases.models import Case

        case = db.session.get(Case, uuid.UUID(world.case_ids["a1"]))
        body = visit_body(case)
    visit_ids = []
    for _ in range(2):
        visit_id = new_id()
        assert worker.put(f"/visits/{visit_id}", json=body).status_code == 201
        visit_ids.append(visit_id)
    attachment_id = new_id()
    uploaded = worker.post(
        f"/visits/{visit_ids[0]}/attachments",
        data=jpeg_with_gps(),
        content_type="image/jpeg",
        headers={"X-Attachment-Id": attachment_id, "X-Attachment-Kind": "photo"},
    )
    assert uploaded.status_code == 201, uploaded.get_json()
    etags = {}
    for visit_id in visit_ids:
        submitted = worker.post(f"/visits/{visit_id}/submit")
        assert submitted.status_code == 200, submitted.get_json()
        etags[visit_id] = submitted.headers["ETag"]
    approved = supervisor.post(
        f"/visits/{visit_ids[1]}/review",
        json={"decision": "approve"},
        headers={"If-Match": etags[visit_ids[1]]},
    )
    assert approved.status_code == 201, approved.get_json()
    with app.app_context():
        feedback = Feedback(language="en", urgent=True, anything_else="Help")
        db.session.add(feedback)
        db.session.commit()
        return {
            "child_id": world.child_ids["a1"][0],
            "visit_id": visit_ids[0],
            "attachment_id": attachment_id,
            "feedback_id": str(feedback.id),
            "user_id": world.user_ids["worker_a"],
            "device_id": str(db.session.scalar(select(Device.id))),
            "message_id": db.session.scalar(select(func.min(OutboxMessage.id))),
            "number": 7,
            "extension": "xlsx",
            "child_names": {child.name: child.id for child in db.session.scalars(select(Child))},
        }


def desk_pages(app) -> list[tuple[str, list[str], set[str]]]:
    """(endpoint, path arguments, methods) of every desk page."""
    return [
        (rule.endpoint, sorted(rule.arguments), set(rule.methods or ()))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/desk") and rule.endpoint not in NOT_PAGES
    ]


def path_for(app, endpoint: str, arguments: list[str], records: dict[str, Any]) -> str:
    from flask import url_for

    unknown = [name for name in arguments if name not in records]
    assert not unknown, f"teach this test an id for {endpoint}: {unknown}"
    with app.test_request_context():
        return url_for(endpoint, **{name: records[name] for name in arguments})


def events_for(app, actor: str, child_id: uuid.UUID) -> int:
    with app.app_context():
        return int(
            db.session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.actor_id == uuid.UUID(actor), AuditEvent.child_id == child_id)
            )
            or 0
        )


def check_headers(response, path: str) -> None:
    assert response.headers.get("Cache-Control") == "no-store", path
    csp = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp, path
    assert response.headers.get("X-Content-Type-Options") == "nosniff", path
    if response.mimetype == "text/html":
        assert response.headers.get("X-Frame-Options") == "DENY", path


@pytest.mark.parametrize("role", ROLES)
def test_every_page_as_every_role(app, world, records, role):
    client = app.test_client()
    desk_sign_in(client, world.usernames[role])
    actor = world.user_ids[role]
    showing_names = set()
    for endpoint, arguments, methods in desk_pages(app):
        if "GET" not in methods:
            continue
        path = path_for(app, endpoint, arguments, records)
        seen_before = {
            child_id: events_for(app, actor, child_id)
            for child_id in records["child_names"].values()
        }
        response = client.get(path)
        assert response.status_code < 500, (role, path, response.status_code)
        check_headers(response, path)
        if role in ("worker_b", "supervisor_b") and TEAM_A_RECORDS & set(arguments):
            assert response.status_code in (403, 404), (role, path, response.status_code)
        if role == "admin" and endpoint in BY_ID_ONLY:
            assert not any(
                name in response.get_data(as_text=True) for name in records["child_names"]
            )
        elif role == "admin" and TEAM_A_RECORDS & set(arguments):
            # An admin sees no child record.
            assert response.status_code in (403, 404), (role, path, response.status_code)
        if response.status_code == 200 and response.mimetype == "text/html":
            html = response.get_data(as_text=True)
            for name, child_id in records["child_names"].items():
                if name in html:
                    showing_names.add(endpoint)
                    after = events_for(app, actor, child_id)
                    assert after > seen_before[child_id], f"{path} shows {name}, unaudited"
    if role in ("supervisor_a", "manager"):
        # The check above ran: the queue and the visit page at least show children's names.
        assert {"reviews_pages.queue", "visits_pages.visit"} <= showing_names, showing_names


def test_every_form_needs_its_csrf_token(app, world, records):
    for role in ("manager", "admin", "supervisor_a"):
        client = app.test_client()
        desk_sign_in(client, world.usernames[role])
        for endpoint, arguments, methods in desk_pages(app):
            if "POST" not in methods:
                continue
            path = path_for(app, endpoint, arguments, records)
            response = client.post(path, data={"decision": "approve", "status": "closed"})
            assert response.status_code == 400, (role, path, response.status_code)
            assert "The form could not be used" in response.get_data(as_text=True), path
    with app.app_context():
        user = db.session.get(User, uuid.UUID(world.user_ids["worker_a"]))
        assert user is not None and user.active


def test_pages_need_signing_in(app, records):
    client = app.test_client()
    for endpoint, arguments, methods in desk_pages(app):
        path = path_for(app, endpoint, arguments, records)
        method = "GET" if "GET" in methods else "POST"
        response = client.open(path, method=method)
        # A form posted without a session fails its CSRF check first; nothing is shown or done.
        assert response.status_code in (302, 400), (path, response.status_code)
        if response.status_code == 302:
            assert response.headers["Location"].startswith("/desk/sign-in"), path


# Query arguments a page must ignore: its own path arguments, and url_for's own keywords.
COLLIDING = ("child_id", "visit_id", "attachment_id", "feedback_id", "user_id", "device_id")
COLLIDING += ("message_id", "number", "extension", "_scheme", "_external", "_anchor", "_method")


# "²" is a digit to str.isdigit, and no number to int(); 5,000 digits are too many for int().
SQUARED, HUGE = "%C2%B2", "9" * 5000
NOT_NUMBERS = f"page={SQUARED}&days={HUGE}&months={SQUARED}&before={HUGE}"
NOT_NUMBERS += f"&older_than_days={SQUARED}"
# Every filter of every desk form, with a NUL (PostgreSQL refuses one in a query's parameter).
NOT_NUMBERS += "".join(
    f"&{name}=a%00b"
    for name in (
        *("status", "state", "user", "flag", "worker", "team", "plan", "order", "action"),
        *("record_type", "record_id", "urgent", "since", "until", "lang", "invite"),
    )
)


@pytest.mark.parametrize("role", ("supervisor_a", "manager", "admin"))
def test_query_arguments_named_like_path_arguments_are_ignored(app, world, records, role):
    client = app.test_client()
    desk_sign_in(client, world.usernames[role])
    hostile = "&".join(f"{name}=x" for name in COLLIDING)
    for endpoint, arguments, methods in desk_pages(app):
        if "GET" not in methods:
            continue
        path = path_for(app, endpoint, arguments, records)
        response = client.get(f"{path}?{hostile}&{NOT_NUMBERS}")
        assert response.status_code < 500, (role, path, response.status_code)
