"""Ofsted Annex A lists 6-9: the visit columns, from submitted visits, for the caller's scope."""

import csv
import io
import uuid
from datetime import date, datetime, timedelta

from openpyxl import load_workbook

from service.auth.models import User
from service.cases.models import Case, Child
from service.cases.operations import refresh_next_due
from service.extensions import db
from service.oversight import inspection
from tests.factories import an_hour_ago, new_id, visit_body


def set_plan(app, child_id, plan_type, **fields):
    with app.app_context():
        child = db.session.get(Child, uuid.UUID(child_id))
        child.plan_type = plan_type
        child.plan_start_date = date.today() - timedelta(days=30)
        for name, value in fields.items():
            setattr(child, name, value)
        refresh_next_due(child)
        db.session.commit()


def record(app, world, session, case_key, submit=True, **changes):
    """A visit to every child of the case; ``changes`` apply to each child's entry."""
    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids[case_key])))
    visit_type = changes.pop("visit_type", "statutory")
    body["visit_type"] = visit_type
    for entry in body["children"]:
        entry.update(changes)
    visit_id = new_id()
    assert session.put(f"/visits/{visit_id}", json=body).status_code == 201
    if submit:
        response = session.post(f"/visits/{visit_id}/submit")
        assert response.status_code == 200, response.get_json()
    return body


def rows_for(app, world, username_key, number):
    with app.app_context():
        user = db.session.scalar(
            db.select(User).where(User.username == world.usernames[username_key])
        )
        return [row.values for row in inspection.list_rows(user, inspection.LISTS[number])]


def person_ref(app, child_id):
    with app.app_context():
        return db.session.get(Child, uuid.UUID(child_id)).core_person_ref


def test_the_headings_are_annex_a_words():
    assert inspection.LISTS[6].headings == ("Child Unique ID", "Date Child Was Last Seen")
    assert inspection.LISTS[7].headings == (
        "Child Unique ID",
        "Date of the Last Statutory Visit",
        "Was the Child Seen Alone?",
    )
    assert inspection.LISTS[8].headings == ("Child Unique ID", "Date of Last Social Work Visit")
    assert inspection.LISTS[9].headings == ("Child Unique ID", "Latest Date of Contact")
    assert inspection.LISTS[7].name == "List 7: Child protection"


def test_list_7_seen_alone_from_the_last_statutory_visit_and_unknown_without_one(
    app, world, worker
):
    # Case a1's two children are on child protection plans (the factory's default); a2's one
    # child too. a1 is visited and seen, not alone; a2 never.
    record(app, world, worker, "a1", seen_alone=False, not_seen_alone_reason="child_refused")
    seen_on = datetime.fromisoformat(an_hour_ago().isoformat()).date()
    rows = rows_for(app, world, "supervisor_a", 7)
    a1 = sorted(person_ref(app, child) for child in world.child_ids["a1"])
    (a2,) = (person_ref(app, child) for child in world.child_ids["a2"])
    by_ref = {row[0]: row[1:] for row in rows}
    assert set(by_ref) >= {*a1, a2}
    assert by_ref[a1[0]][1] == "b) No" and abs((by_ref[a1[0]][0] - seen_on).days) <= 1
    assert by_ref[a2] == (None, "c) Unknown")
    # Another team's children are not in a team A supervisor's list; the manager has both.
    team_b = {person_ref(app, child) for child in world.child_ids["b1"]}
    assert not team_b & set(by_ref)
    assert team_b <= {row[0] for row in rows_for(app, world, "manager", 7)}


def test_only_submitted_statutory_visits_where_seen_count_and_contact_is_any_visit_seen(
    app, world, worker, sign_in
):
    # A care leaver seen on a review visit: contact, though not a statutory visit.
    care_leaver = world.child_ids["a2"][0]
    set_plan(app, care_leaver, "care_leaver")
    record(app, world, worker, "a2", visit_type="review")
    ((ref, contact),) = rows_for(app, world, "supervisor_a", 9)
    assert ref == person_ref(app, care_leaver) and abs((contact - date.today()).days) <= 1
    # Children in care visited but not seen: no social work visit to report.
    for child_id in world.child_ids["a1"]:
        set_plan(app, child_id, "looked_after")
    not_seen = {"seen": False, "seen_alone": None, "bedroom_seen": None, "voice": None}
    record(app, world, worker, "a1", not_seen_reason="child_not_home", **not_seen)
    assert [row[1] for row in rows_for(app, world, "supervisor_a", 8)] == [None, None]
    # A child in need visited only in a draft: no date either.
    set_plan(app, world.child_ids["a3"][0], "child_in_need")
    record(app, world, sign_in(world.usernames["worker_a2"]), "a3", submit=False)
    assert [row[1] for row in rows_for(app, world, "supervisor_a", 6)] == [None]


def test_csv_and_xlsx(app, world, worker):
    child_id = world.child_ids["a2"][0]
    set_plan(app, child_id, "child_protection", core_person_ref="=HYPERLINK(1)")
    record(app, world, worker, "a2")
    with app.app_context():
        user = db.session.scalar(
            db.select(User).where(User.username == world.usernames["supervisor_a"])
        )
        listed = inspection.list_rows(user, inspection.LISTS[7])
        text = inspection.as_csv(inspection.LISTS[7], listed)
        workbook_bytes = inspection.as_xlsx(
            [(item, inspection.list_rows(user, item)) for item in inspection.LISTS.values()]
        )
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(inspection.LISTS[7].headings)
    hyperlink = next(row for row in rows if "HYPERLINK" in row[0])
    assert hyperlink[0] == "'=HYPERLINK(1)" and hyperlink[2] == "a) Yes"
    assert date.fromisoformat("-".join(reversed(hyperlink[1].split("/"))))
    workbook = load_workbook(io.BytesIO(workbook_bytes))
    assert workbook.sheetnames == ["List 6", "List 7", "List 8", "List 9"]
    sheet = workbook["List 7"]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == inspection.LISTS[7].headings
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    # Stored as the text it is, never a formula; the date a real date cell.
    assert cells["=HYPERLINK(1)"][0].data_type == "s"
    assert isinstance(cells["=HYPERLINK(1)"][1].value, datetime)
    assert cells["=HYPERLINK(1)"][1].number_format == "DD/MM/YYYY"
    assert cells["=HYPERLINK(1)"][2].value == "a) Yes"
