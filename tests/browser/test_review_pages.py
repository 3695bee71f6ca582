"""Reviewing visits at the desk in Chromium: the queue, a visit with its evidence, decisions
(return with a comment, approve, a management decision), keyboard only, another team's 404,
axe-core on every page, screenshots at desktop and tablet widths.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from service.extensions import db
from service.reviews.models import Review
from tests.browser.conftest import screenshot, serious_violations, tables_scroll_in_their_boxes
from tests.factories import OWN_WORDS
from tests.review_pages_support import submitted_visit

DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 820, "height": 1180}


def at_both_widths(page, name):
    """Axe finds nothing serious, and screenshots are kept, at desktop and tablet widths."""
    for label, size in (("desktop", DESKTOP), ("tablet", TABLET)):
        page.set_viewport_size(size)
        assert serious_violations(page) == [], f"{name} at {label} width"
        screenshot(page, f"desk-{name}-{label}")
    page.set_viewport_size(DESKTOP)


def decisions(app):
    with app.app_context():
        rows = db.session.query(Review).order_by(Review.decided_at).all()
        db.session.expunge_all()
        return rows


@pytest.fixture
def visits(app, world, worker):
    """Three visits of team A awaiting review: with evidence, plain, and a child not seen."""
    with_evidence, _ = submitted_visit(
        app, worker, world.case_ids["a1"], evidence=("photo", "audio", "document")
    )
    plain, _ = submitted_visit(app, worker, world.case_ids["a2"])
    not_seen, _ = submitted_visit(app, worker, world.case_ids["a1"], not_seen=True)
    return {"evidence": with_evidence, "plain": plain, "not_seen": not_seen}


def test_the_queue_and_a_visit_with_its_evidence(page, signed_in, world, visits):
    signed_in(world.usernames["supervisor_a"])
    page.click("a:has-text('Review queue')")
    page.wait_for_url("**/desk/reviews")
    assert "3 visits awaiting a decision" in page.inner_text("main")
    assert page.locator(".govuk-tag", has_text="Child not seen").count() == 1
    tables_scroll_in_their_boxes(page)
    at_both_widths(page, "review-queue")
    page.click(f"a[href='/desk/visits/{visits['evidence']}']")
    page.wait_for_url(f"**/desk/visits/{visits['evidence']}")
    thumbnail = page.locator("img.app-thumbnail")
    thumbnail.wait_for()
    page.wait_for_function("document.querySelector('img.app-thumbnail').complete")
    assert thumbnail.evaluate("img => img.naturalWidth") > 0
    assert thumbnail.evaluate("img => img.naturalWidth") <= 320
    audio = page.locator("audio.app-player")
    assert audio.count() == 1 and "/play" in audio.get_attribute("src")
    assert page.locator("a:has-text('Download the document')").count() == 1
    assert OWN_WORDS in page.locator("blockquote.app-own-words__quote").first.inner_text()
    at_both_widths(page, "visit")


def test_return_with_a_comment_then_approve_another(app, page, signed_in, world, visits):
    signed_in(world.usernames["supervisor_a"])
    page.goto(f"/desk/visits/{visits['plain']}")
    page.check("input[name=decision][value=return]")
    page.click("button:has-text('Record the decision')")
    summary = page.locator(".govuk-error-summary")
    assert summary.is_visible() and "Say what needs to change" in summary.inner_text()
    assert page.title().startswith("Error:")
    at_both_widths(page, "visit-error")
    page.fill("#comment", "Add what the child said about school.")
    page.click("button:has-text('Record the decision')")
    page.wait_for_url("**/desk/reviews")
    assert "Returned" in page.locator(".govuk-notification-banner").inner_text()
    page.goto(f"/desk/visits/{visits['evidence']}")
    page.check("input[name=decision][value=approve]")
    page.click("button:has-text('Record the decision')")
    page.wait_for_url("**/desk/reviews")
    assert [(r.decision, r.comment) for r in decisions(app)] == [
        ("return", "Add what the child said about school."),
        ("approve", None),
    ]
    assert "1 visit awaiting a decision" in page.inner_text("main")


def test_a_child_not_seen_needs_a_management_decision(app, page, signed_in, world, visits):
    signed_in(world.usernames["supervisor_a"])
    page.goto(f"/desk/visits/{visits['not_seen']}")
    assert "Nobody answered the door." in page.inner_text("main")
    page.check("input[name=decision][value=approve]")
    page.click("button:has-text('Record the decision')")
    assert "say what happens next" in page.locator(".govuk-error-summary").inner_text()
    due = date.today() + timedelta(days=5)
    page.fill("#management-action", "Revisit unannounced")
    page.fill("#management-due-by-day", str(due.day))
    page.fill("#management-due-by-month", str(due.month))
    page.fill("#management-due-by-year", str(due.year))
    at_both_widths(page, "visit-management-decision")
    page.click("button:has-text('Record the decision')")
    page.wait_for_url("**/desk/reviews")
    (review,) = decisions(app)
    assert (review.decision, review.management_action, review.management_due_by) == (
        "approve",
        "Revisit unannounced",
        due,
    )


def focus_by_tabbing(page, selector, limit=200):
    """Press Tab until the element matching ``selector`` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"never reached {selector} with Tab")


def test_a_review_with_the_keyboard_only(app, page, signed_in, world, visits):
    signed_in(world.usernames["supervisor_a"])
    page.goto("/desk/reviews")
    focus_by_tabbing(page, f"a[href='/desk/visits/{visits['plain']}']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/desk/visits/{visits['plain']}")
    focus_by_tabbing(page, "input[name=decision]")  # the first radio: approve
    page.keyboard.press("Space")
    assert page.is_checked("input[name=decision][value=approve]")
    focus_by_tabbing(page, "button.govuk-button[type=submit]:not(.govuk-button--secondary)")
    page.keyboard.press("Enter")
    page.wait_for_url("**/desk/reviews")
    assert [r.decision for r in decisions(app)] == ["approve"]


def test_another_teams_supervisor_gets_a_404_page(page, signed_in, world, visits):
    signed_in(world.usernames["supervisor_b"])
    response = page.goto(f"/desk/visits/{visits['evidence']}")
    assert response.status == 404
    assert OWN_WORDS not in page.inner_text("body")
    at_both_widths(page, "visit-not-found")
    page.goto("/desk/reviews")
    assert "No visits are waiting for a decision" in page.inner_text("main")
