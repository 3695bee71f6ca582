"""The oversight desk pages through the test client: overdue, a child, dashboard, inspection."""

import csv
import io
import uuid
from datetime import date, timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from service.audit.models import AuditEvent
from service.cases.models import Case, Child
from service.cases.operations import refresh_next_due
from service.extensions import db
from tests.desk import desk_sign_in
from tests.factories import OWN_WORDS, new_id, visit_body


def start_plan(app, child_id, days_ago, plan_type="child_protection", **fields):
    with app.app_context():
        child = db.session.get(Child, uuid.UUID(child_id))
        child.plan_type, child.plan_start_date = plan_type, date.today() - timedelta(days=days_ago)
        for name, value in fields.items():
            setattr(child, name, value)
        refresh_next_due(child)
        db.session.commit()


def submit(app, world, session, case_key):
    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids[case_key])))
    visit_id = new_id()
    session.put(f"/visits/{visit_id}", json=body)
    assert session.post(f"/visits/{visit_id}/submit").status_code == 200
    return visit_id


def page(client, path):
    response = client.get(path)
    return response, response.get_data(as_text=True)


def test_overdue_page_filters_sorts_and_exports(app, world, client):
    start_plan(app, world.child_ids["a1"][0], 60, name="Zara Overdue")
    start_plan(app, world.child_ids["a2"][0], 90, "child_in_need", name="Adam Overdue")
    desk_sign_in(client, world.usernames["supervisor_a"])
    response, text = page(client, "/desk/overdue")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert text.index("Adam Overdue") < text.index("Zara Overdue")  # most overdue first
    assert text.count("Never seen") == 2 and "2</strong> children overdue" in text
    _, by_name = page(client, "/desk/overdue?order=name_desc")
    assert by_name.index("Zara Overdue") < by_name.index("Adam Overdue")
    _, planned = page(client, "/desk/overdue?plan=child_in_need")
    assert "Adam Overdue" in planned and "Zara Overdue" not in planned
    _, other_worker = page(client, f"/desk/overdue?worker={world.user_ids['worker_a2']}")
    assert "Adam Overdue" not in other_worker
    _, junk = page(client, "/desk/overdue?team=not-a-uuid&order=nonsense&page=x")
    assert "Adam Overdue" in junk
    export = client.get("/desk/overdue.csv?plan=child_in_need")
    assert export.mimetype == "text/csv" and "attachment" in export.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True))))
    assert rows[0][0] == "child_name" and [row[0] for row in rows[1:]] == ["Adam Overdue"]
    assert rows[1][-1] == "yes"
    # Each child shown was audited as listed.
    with app.app_context():
        listed = db.session.scalars(
            select(AuditEvent.child_id).where(AuditEvent.record_type == "overdue")
        ).all()
    assert uuid.UUID(world.child_ids["a2"][0]) in listed


def test_overdue_page_is_for_supervisors_and_managers(app, world, client):
    desk_sign_in(client, world.usernames["worker_a"])
    assert client.get("/desk/overdue").status_code == 403
    assert client.get("/desk/dashboard").status_code == 403
    assert client.get("/desk/inspection").status_code == 403


def test_a_child_with_their_words_and_another_teams_supervisor_gets_404(app, world, client, worker):
    child_id = world.child_ids["a1"][0]
    submit(app, world, worker, "a1")
    desk_sign_in(client, world.usernames["supervisor_a"])
    response, text = page(client, f"/desk/children/{child_id}")
    assert response.status_code == 200
    quoted = "“" + OWN_WORDS.replace("'", "&#39;") + "”"
    assert "own words" in text and quoted in text
    assert "desk-print-line" in text and "printed" in text
    with app.app_context():
        core_ref = db.session.get(Child, uuid.UUID(child_id)).core_person_ref
        audited = db.session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.record_type == "chronology", AuditEvent.child_id == uuid.UUID(child_id)
            )
        ).all()
    assert core_ref in text and "read" in audited
    csv_response = client.get(f"/desk/children/{child_id}/chronology.csv")
    assert csv_response.mimetype == "text/csv"
    other = app.test_client()
    desk_sign_in(other, world.usernames["supervisor_b"])
    refused = other.get(f"/desk/children/{child_id}")
    assert refused.status_code == 404 and "Page not found" in refused.get_data(as_text=True)
    assert other.get(f"/desk/children/{uuid.uuid4()}").status_code == 404


def test_dashboard_has_charts_and_tables(app, world, client, worker):
    submit(app, world, worker, "a2")
    desk_sign_in(client, world.usernames["manager"])
    response, text = page(client, "/desk/dashboard")
    assert response.status_code == 200
    assert text.count('role="img"') == 4 and text.count('<svg class="desk-chart__image"') == 4
    assert "Statutory visits within timescale (%)" in text and "Team-A" in text
    assert '<title id="chart-in-time-title">' in text


def test_inspection_page_and_downloads_in_scope(app, world, client, worker):
    start_plan(app, world.child_ids["a2"][0], 20, core_person_ref="=CMD()")
    submit(app, world, worker, "a2")
    desk_sign_in(client, world.usernames["supervisor_a"])
    response, text = page(client, "/desk/inspection")
    assert response.status_code == 200 and "List 7: Child protection" in text
    csv_text = client.get("/desk/inspection/list-7.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(csv_text)))
    assert rows[0] == [
        "Child Unique ID",
        "Date of the Last Statutory Visit",
        "Was the Child Seen Alone?",
    ]
    assert ["'=CMD()", date.today().strftime("%d/%m/%Y"), "a) Yes"] in rows or any(
        row[0] == "'=CMD()" and row[2] == "a) Yes" for row in rows
    )
    xlsx = client.get("/desk/inspection/list-7.xlsx")
    assert xlsx.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(xlsx.data))["List 7"]
    refs = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    team_b = set()
    with app.app_context():
        for child_id in world.child_ids["b1"]:
            team_b.add(db.session.get(Child, uuid.UUID(child_id)).core_person_ref)
    assert "=CMD()" in refs and not team_b & set(refs)
    assert client.get("/desk/inspection/list-5.csv").status_code == 404
    workbook = load_workbook(io.BytesIO(client.get("/desk/inspection/annex-a.xlsx").data))
    assert workbook.sheetnames == ["List 6", "List 7", "List 8", "List 9"]
    with app.app_context():
        exported = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.record_type == "annex_a")
        ).all()
    assert "export" in exported
