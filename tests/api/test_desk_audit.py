"""The audit pages: the trail (filters, pages, CSV), a child's access log and the unusual access
report, for exactly the roles the API's audit views allow; an admin reads them by id only.
"""

from __future__ import annotations

import csv
import io
import re
import uuid

from flask import g
from sqlalchemy import func, select

from service.audit.events import Action, Subject
from service.audit.models import AuditEvent
from service.audit.trail import record
from service.cases.models import Child
from service.extensions import db
from tests.desk import desk_post, desk_sign_in

PAGES = ("/desk/audit", "/desk/audit/unusual", "/desk/audit.csv")


def child_name(app, child_id):
    with app.app_context():
        return db.session.get(Child, uuid.UUID(child_id)).name


def test_only_admins_and_managers_see_the_audit_pages(app, client, world):
    child = world.child_ids["a1"][0]
    for role in ("worker_a", "supervisor_a"):
        desk_sign_in(client, world.usernames[role])
        for path in (*PAGES, f"/desk/children/{child}/access-log"):
            assert client.get(path).status_code == 403, (role, path)
        desk_post(client, "/desk/sign-out", {}, "/desk/")
    with app.app_context():
        refused = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "denied")
        )
    assert refused >= 8  # each refusal recorded, as the API records them
    for role in ("admin", "manager"):
        desk_sign_in(client, world.usernames[role])
        for path in (*PAGES, f"/desk/children/{child}/access-log"):
            assert client.get(path).status_code == 200, (role, path)
        home = client.get("/desk/").get_data(as_text=True)
        assert "Audit trail" in home and "Unusual access" in home
        desk_post(client, "/desk/sign-out", {}, "/desk/")


def test_the_trail_filters_as_the_api_does_and_pages(app, client, world):
    child = world.child_ids["a1"][0]
    with app.app_context():
        for _ in range(55):
            record(Action.READ, Subject("child", child, uuid.UUID(child)), actor=None)
        record(Action.PURGE, Subject("case", world.case_ids["b1"]), actor=None)
        db.session.commit()
    desk_sign_in(client, world.usernames["manager"])
    first = client.get(f"/desk/audit?child_id={child}").get_data(as_text=True)
    assert "Showing 1 to 50 of 55" in first and "Page 1 of 2" in first
    assert f"/desk/children/{child}/access-log" in first
    second = client.get(f"/desk/audit?child_id={child}&page=2").get_data(as_text=True)
    assert "Showing 51 to 55 of 55" in second
    purged = client.get("/desk/audit?action=purge").get_data(as_text=True)
    assert world.case_ids["b1"] in purged and child not in purged
    bad = client.get("/desk/audit?child_id=nope&since=yesterday&action=eat")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400
    assert "Enter an id like" in html and "Enter a real date" in html
    assert "Choose an action from the list" in html
    # Reading the trail is in the trail, as GET /audit is.
    with app.app_context():
        assert db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.record_type == "audit_trail")
        )


def test_the_csv_streams_every_matching_event(app, client, world):
    child = world.child_ids["a1"][0]
    with app.app_context():
        for _ in range(60):
            record(Action.READ, Subject("child", child, uuid.UUID(child)), actor=None)
        db.session.commit()
    desk_sign_in(client, world.usernames["admin"])
    response = client.get(f"/desk/audit.csv?child_id={child}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-')
    assert response.headers["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:3] == ["id", "at", "actor_id"]
    assert len(rows) == 61
    with app.app_context():
        exported = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()
    assert [(e.record_type, e.actor_role) for e in exported] == [("audit_trail", "admin")]
    wrong = client.get("/desk/audit.csv?since=soon")
    assert wrong.status_code == 302 and "/desk/audit?since=soon" in wrong.headers["Location"]


def test_a_childs_access_log_shows_who_looked_including_this_page(app, client, world, sign_in):
    child = world.child_ids["a1"][0]
    assert sign_in(world.usernames["worker_a"]).get(f"/children/{child}").status_code == 200
    desk_sign_in(client, world.usernames["manager"])
    path = f"/desk/children/{child}/access-log"
    client.get(path)
    html = client.get(path).get_data(as_text=True)
    assert "(social worker)" in html and "Looked: read" in html
    assert "record_type=access_log" in html and "(manager)" in html  # seen by the next
    with app.app_context():
        views = db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.record_type == "access_log", AuditEvent.child_id == uuid.UUID(child)
            )
        ).all()
    assert len(views) == 2
    other = world.child_ids["b1"][0]
    assert other not in client.get(path).get_data(as_text=True)


def test_an_admin_reads_the_log_by_id_and_never_the_childs_record(app, client, world, sign_in):
    child = world.child_ids["a1"][0]
    sign_in(world.usernames["worker_a"]).get(f"/children/{child}")
    desk_sign_in(client, world.usernames["admin"])
    html = client.get(f"/desk/children/{child}/access-log").get_data(as_text=True)
    assert child in html and "(social worker)" in html
    assert child_name(app, child) not in html
    # As the API's access log: a child never held has an empty log, not an error.
    nobody = client.get(f"/desk/children/{uuid.uuid4()}/access-log")
    assert nobody.status_code == 200
    assert "No one has looked at" in nobody.get_data(as_text=True)
    assert client.get("/desk/children/not-a-child/access-log").status_code == 404
    found = client.get(f"/desk/audit/access-log?child_id={child}")
    assert found.headers["Location"] == f"/desk/children/{child}/access-log"


def test_unusual_access_is_explained(app, client, world, sign_in):
    other_teams_child = world.child_ids["b1"][0]
    assert sign_in(world.usernames["worker_a"]).get(f"/children/{other_teams_child}").status_code
    desk_sign_in(client, world.usernames["manager"])
    html = client.get("/desk/audit/unusual?days=1").get_data(as_text=True)
    assert "Refused" in html and "not theirs to see" in html
    assert f"/desk/children/{other_teams_child}/access-log" in html
    assert "The last 1 day" in html
    with app.app_context():
        assert db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.record_type == "unusual_access")
        )


def who_column(html: str) -> list[str]:
    """The "Who" cell of each row of the events table."""
    rows = re.findall(
        r'<tr class="govuk-table__row">\s*<td[^>]*>[^<]*</td>\s*<td[^>]*>(.*?)</td>', html, re.S
    )
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in rows]


def test_events_without_an_actor_say_whether_nobody_signed_in_or_the_service_did_it(
    app, client, world
):
    refused = client.post(
        "/api/v1/auth/token", json={"username": world.usernames["worker_a"], "password": "no"}
    )
    assert refused.status_code == 401
    with app.app_context():  # outside a request, as the outbox worker and commands record
        record(Action.PURGE, Subject("case", world.case_ids["b1"]), actor=None)
        db.session.commit()
    desk_sign_in(client, world.usernames["manager"])
    failed = client.get("/desk/audit?action=sign_in_failed").get_data(as_text=True)
    assert who_column(failed) == ["Not signed in"]
    purged = client.get("/desk/audit?action=purge").get_data(as_text=True)
    assert who_column(purged) == ["The service"]


def test_a_care_leavers_form_in_the_access_log_was_not_signed_in(app, client, world):
    child = world.child_ids["a1"][0]
    with app.test_request_context("/feedback", environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        g.request_id = "a-care-leavers-form"  # every request is named (set_request_id)
        record(Action.CREATE, Subject("feedback", 1, uuid.UUID(child)), actor=None)
        db.session.commit()
    desk_sign_in(client, world.usernames["manager"])
    html = client.get(f"/desk/children/{child}/access-log").get_data(as_text=True)
    assert "Not signed in" in html and "The service" not in html
