"""The oversight pages in Chromium: overdue, a child's printed chronology, dashboard, Annex A."""

import io
import uuid
from datetime import date, timedelta
from pathlib import Path

from openpyxl import load_workbook

from service.cases.models import Case, Child
from service.cases.operations import refresh_next_due
from service.extensions import db
from tests.browser.conftest import screenshot, serious_violations, tables_scroll_in_their_boxes
from tests.factories import new_id, visit_body

DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 820, "height": 1180}


def start_plan(app, child_id, days_ago, name):
    with app.app_context():
        child = db.session.get(Child, uuid.UUID(child_id))
        child.name, child.plan_start_date = name, date.today() - timedelta(days=days_ago)
        refresh_next_due(child)
        db.session.commit()


def submit(app, world, session, case_key, **child_changes):
    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids[case_key])))
    for entry in body["children"]:
        entry.update(child_changes)
    visit_id = new_id()
    assert session.put(f"/visits/{visit_id}", json=body).status_code == 201
    assert session.post(f"/visits/{visit_id}/submit").status_code == 200


def both_widths(tab, name):
    """Screenshots at desktop and tablet widths, and axe at each: nothing serious."""
    for label, size in (("desktop", DESKTOP), ("tablet", TABLET)):
        tab.set_viewport_size(size)
        assert serious_violations(tab) == [], f"{name} at {label} width"
        screenshot(tab, f"oversight-{name}-{label}")


def test_the_overdue_list_changes_when_a_visit_is_submitted_through_the_api(
    app, world, signed_in, worker
):
    start_plan(app, world.child_ids["a2"][0], 60, "Robin Overdue")
    tab = signed_in(world.usernames["supervisor_a"])
    tab.goto("/desk/overdue")
    row = tab.locator("tr", has_text="Robin Overdue")
    assert row.count() == 1 and "Never seen" in row.inner_text()
    both_widths(tab, "overdue")
    tab.select_option("#plan", "care_leaver")
    tab.click("button:has-text('Show')")
    assert tab.locator("tr", has_text="Robin Overdue").count() == 0
    tab.goto("/desk/overdue")
    submit(app, world, worker, "a2")  # through the API, as the tablet would
    tab.reload()
    assert tab.locator("tr", has_text="Robin Overdue").count() == 0
    assert "No child in your scope is overdue" in tab.inner_text("main")


def test_a_childs_chronology_prints_as_a_case_file(app, world, signed_in, worker, sign_in):
    child_id = world.child_ids["a1"][0]
    submit(app, world, worker, "a1")
    tab = signed_in(world.usernames["supervisor_a"])
    tab.goto(f"/desk/children/{child_id}")
    assert tab.locator(".desk-own-words blockquote").first.is_visible()
    both_widths(tab, "chronology")
    tab.set_viewport_size(DESKTOP)
    tab.emulate_media(media="print")
    assert not tab.locator(".govuk-service-navigation").is_visible()
    assert not tab.get_by_role("button", name="Sign out").is_visible()
    line = tab.locator(".desk-print-line")
    assert line.is_visible() and "printed" in line.inner_text()
    screenshot(tab, "oversight-chronology-print")
    pdf = tab.pdf(format="A4")
    assert pdf.startswith(b"%PDF")
    tab.emulate_media(media="screen")
    assert not line.is_visible()


def test_another_teams_supervisor_gets_the_404_page_for_a_child(world, signed_in):
    tab = signed_in(world.usernames["supervisor_b"])
    response = tab.goto(f"/desk/children/{world.child_ids['a1'][0]}")
    assert response.status == 404
    assert tab.get_by_role("heading", name="Page not found").is_visible()
    assert serious_violations(tab) == []


def test_the_dashboard_draws_charts_with_their_numbers_in_tables(app, world, signed_in, worker):
    submit(app, world, worker, "a2")
    submit(app, world, worker, "a1", seen_alone=False, not_seen_alone_reason="child_refused")
    tab = signed_in(world.usernames["manager"])
    tab.goto("/desk/dashboard")
    charts = tab.locator("svg.desk-chart__image[role='img']")
    assert charts.count() == 4
    assert charts.first.get_attribute("aria-labelledby")
    alone = tab.locator("table", has_text="Children seen alone on statutory visits (%)")
    assert "Team-A" in alone.inner_text() and "33.3%" in alone.inner_text()
    tables_scroll_in_their_boxes(tab)
    both_widths(tab, "dashboard")


def test_the_annex_a_workbook_downloads_and_opens(app, world, signed_in, worker):
    submit(app, world, worker, "a2")
    tab = signed_in(world.usernames["supervisor_a"])
    tab.goto("/desk/inspection")
    both_widths(tab, "inspection")
    with tab.expect_download() as download_info:
        tab.get_by_role("link", name="XLSX of list 7").click()
    download = download_info.value
    assert download.suggested_filename == "annex-a-list-7.xlsx"
    workbook = load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    sheet = workbook["List 7"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == (
        "Child Unique ID",
        "Date of the Last Statutory Visit",
        "Was the Child Seen Alone?",
    )
    with app.app_context():
        refs = {
            db.session.get(Child, uuid.UUID(child)).core_person_ref
            for child in world.child_ids["a2"]
        }
    seen = {row[0]: row for row in rows[1:]}
    assert refs <= set(seen) and all(seen[ref][2] == "a) Yes" for ref in refs)
