"""A manager at a desk in Chromium: care-leaver feedback (urgent first, triage with a kept
history, the summary) and the audit pages (the trail, a child's access log that shows the
manager's own page views, unusual access); axe on every page, screenshots at two widths.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from service.columns import utcnow
from service.extensions import db
from service.feedback import operations
from tests.browser.conftest import screenshot, serious_violations
from tests.factories import CONTACT_DETAIL, CONTACT_NAME, URGENT_MESSAGE

WIDTHS = {"desktop": (1280, 900), "tablet": (820, 1180)}


def checked(tab, name: str) -> None:
    """No serious or critical axe violations, and a screenshot at each width."""
    for label, (width, height) in WIDTHS.items():
        tab.set_viewport_size({"width": width, "height": height})
        assert serious_violations(tab) == [], (name, label)
        screenshot(tab, f"{name}-{label}")
    tab.set_viewport_size({"width": 1280, "height": 900})


def responses(app, child_id: str) -> str:
    """Two ordinary responses and, older than both, an urgent one from a care leaver's link."""
    with app.app_context():
        for minutes, words in ((20, "Things are fine"), (5, "My adviser is great")):
            older = operations.save_feedback(
                {"life_satisfaction": 7, "settled": "yes", "anything_else": words}, "en", None
            )
            older.submitted_at = utcnow() - timedelta(minutes=minutes)
        urgent = operations.save_feedback(
            {
                "urgent": True,
                "anything_else": URGENT_MESSAGE,
                "wants_contact": True,
                "contact_name": CONTACT_NAME,
                "contact_detail": CONTACT_DETAIL,
            },
            "en",
            None,
        )
        urgent.child_id = uuid.UUID(child_id)
        urgent.submitted_at = utcnow() - timedelta(hours=2)
        db.session.commit()
        return str(urgent.id)


def test_a_manager_triages_feedback_and_reads_the_trail(app, world, signed_in):
    child_id = world.child_ids["a1"][0]
    urgent_id = responses(app, child_id)
    page = signed_in(world.usernames["manager"])

    page.click("nav >> text=Care-leaver feedback")
    page.wait_for_url("**/desk/feedback")
    rows = page.locator("#feedback-list tbody tr")
    assert rows.count() == 3
    assert "Urgent" in rows.nth(0).inner_text()  # the oldest, but urgent: first
    assert CONTACT_NAME not in page.inner_text("main")
    checked(page, "desk-feedback-list")

    rows.nth(0).locator("a").click()
    page.wait_for_url(f"**/desk/feedback/{urgent_id}")
    assert CONTACT_DETAIL in page.inner_text("#contact-details")
    assert URGENT_MESSAGE in page.inner_text("#anything-else")
    page.check("#status-contacted")
    page.fill("#note", "Rang twice, no answer; texted the out-of-hours number")
    page.click("button:has-text('Save triage')")
    page.wait_for_url(f"**/desk/feedback/{urgent_id}")
    page.check("#status-closed")
    page.fill("#note", "Spoke to them: safe, housing officer visiting tomorrow")
    page.click("button:has-text('Save triage')")
    page.wait_for_url(f"**/desk/feedback/{urgent_id}")
    assert "Triage saved: closed." in page.inner_text(".govuk-notification-banner")
    history = page.locator("#triage-history li")
    assert history.count() == 2
    assert "Rang twice, no answer" in history.nth(0).inner_text()
    assert "Contacted" in history.nth(0).inner_text()
    assert "Spoke to them" in history.nth(1).inner_text()
    assert page.inner_text("#current-status") == "Closed"
    checked(page, "desk-feedback-item")

    page.click("nav >> text=Feedback summary")
    page.wait_for_url("**/desk/feedback/summary")
    assert "Fewer than 5 responses" in page.inner_text("#summary-months")
    checked(page, "desk-feedback-summary")

    page.click("nav >> text=Audit trail")
    page.wait_for_url("**/desk/audit")
    assert page.locator("#audit-events tbody tr").count() > 0
    checked(page, "desk-audit-trail")
    page.fill("#child_id", child_id)
    page.click("button:has-text('Apply filters')")
    page.wait_for_url("**/desk/audit?**")
    assert "feedback" in page.inner_text("#audit-events")
    page.click("text=This child's access log")
    page.wait_for_url(f"**/desk/children/{child_id}/access-log")
    log = page.inner_text("#access-log")
    # The manager's own page views of the care leaver's response are in the child's log.
    assert "(manager)" in log and "feedback" in log and "feedback contact" in log
    assert "triage" in log
    checked(page, "desk-access-log")

    page.click("nav >> text=Unusual access")
    page.wait_for_url("**/desk/audit/unusual")
    checked(page, "desk-unusual-access")


def test_an_admin_reads_the_trail_but_not_the_feedback(app, world, signed_in):
    page = signed_in(world.usernames["admin"])
    assert page.locator("nav >> text=Care-leaver feedback").count() == 0
    page.goto("/desk/feedback")
    assert "You cannot see this page" in page.inner_text("main")
    page.goto("/desk/audit")
    assert page.locator("h1").inner_text() == "Audit trail"
    page.goto(f"/desk/children/{world.child_ids['a1'][0]}/access-log?since=nonsense")
    assert page.title().startswith("Error:")
    assert "Enter a real date" in page.inner_text(".govuk-error-summary")
    assert serious_violations(page) == []
