"""The care-leaver form in a real browser: filling it in, errors, the urgent path, keyboard only,
automated accessibility checks (axe-core), and a screenshot at phone width.
"""

import pytest
from axe_playwright_python.sync_playwright import Axe

from service.extensions import db
from service.feedback.models import Feedback
from tests.browser.conftest import ARTIFACTS

SERIOUS = ("serious", "critical")


def answer_scales(page):
    for name, value in (
        ("life_satisfaction", "7"),
        ("worthwhile", "8"),
        ("happy_yesterday", "6"),
        ("anxious_yesterday", "2"),
    ):
        page.check(f"input[name={name}][value='{value}']")


def serious_violations(page):
    results = Axe().run(page)
    return [
        (violation["id"], violation["impact"], len(violation["nodes"]))
        for violation in results.response["violations"]
        if violation["impact"] in SERIOUS
    ]


def stored(app):
    with app.app_context():
        rows = db.session.query(Feedback).all()
        db.session.expunge_all()
        return rows


def test_fill_in_and_send(app, page):
    page.goto("/feedback")
    answer_scales(page)
    page.check("input[name=settled][value=mostly]")
    page.fill("#anything_else", "I would like help with my rent.")
    page.click("button.govuk-button")
    page.wait_for_url("**/feedback/thanks**")
    assert page.locator("h1").inner_text() == "Thank you"
    (row,) = stored(app)
    assert row.settled == "mostly" and row.anything_else == "I would like help with my rent."


def test_errors_are_summarised_at_the_top(app, page):
    page.goto("/feedback")
    page.check("input[name=life_satisfaction][value='5']")
    page.fill("#anything_else", "Keep this")
    page.click("button.govuk-button")
    summary = page.locator(".govuk-error-summary")
    assert summary.is_visible()
    assert page.title().startswith("Error:")
    links = summary.locator("a").all_inner_texts()
    assert links == ["Choose a number from 0 to 10"] * 3
    assert page.input_value("#anything_else") == "Keep this"
    assert page.is_checked("input[name=life_satisfaction][value='5']")
    summary.locator("a").first.click()
    assert page.evaluate("document.activeElement.name") == "worthwhile"
    assert serious_violations(page) == []
    assert stored(app) == []


def test_i_need_help_now(app, page):
    page.goto("/feedback")
    assert "call 999" in page.locator("main").inner_text()  # the contacts, on the form itself
    page.click("footer >> text=I need help now")
    page.wait_for_url("**/feedback/help**")
    assert "call 999" in page.locator("main").inner_text()
    page.goto("/feedback")
    answer_scales(page)
    page.check("#urgent")
    page.click("button.govuk-button")
    page.wait_for_url("**/feedback/help**")
    assert "marked your answers as urgent" in page.locator("main").inner_text()
    assert stored(app)[0].urgent is True


def test_an_urgent_message_needs_nothing_else(app, page):
    page.goto("/feedback?lang=cy")
    page.fill("#anything_else", "I am not safe tonight")
    page.check("#urgent")
    page.click("button.govuk-button")
    page.wait_for_url("**/feedback/help**")
    main = page.locator("main").inner_text()
    assert "ffoniwch 999" in main and "116 123" in main
    (row,) = stored(app)
    assert row.urgent is True and row.anything_else == "I am not safe tonight"
    assert row.life_satisfaction is None
    assert serious_violations(page) == []


def tab_to(page, element_id, limit=200):
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == element_id:
            return
    raise AssertionError(f"never reached #{element_id} with Tab")


def test_keyboard_only(app, page):
    page.goto("/feedback")
    page.keyboard.press("Tab")
    assert "govuk-skip-link" in page.evaluate("document.activeElement.className")
    for name in ("life_satisfaction", "worthwhile", "happy_yesterday", "anxious_yesterday"):
        tab_to(page, name)
        page.keyboard.press("ArrowRight")  # moves to and selects 1
    tab_to(page, "anything_else")
    page.keyboard.type("Typed without a mouse")
    tab_to(page, "urgent")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") != "website"  # the honeypot is never a stop
    page.keyboard.press("Enter")
    page.wait_for_url("**/feedback/thanks**")
    (row,) = stored(app)
    assert row.life_satisfaction == 1 and row.anything_else == "Typed without a mouse"


@pytest.mark.parametrize(
    "path",
    [
        "/feedback",
        "/feedback?lang=cy",
        "/feedback/help",
        "/feedback/thanks",
        "/feedback/nowhere",
        "/feedback?invite=forged",
    ],
)
def test_no_serious_accessibility_violations(page, path):
    page.goto(path)
    assert serious_violations(page) == []


def test_phone_width_screenshot(page):
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto("/feedback")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing scrolls sideways
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "feedback-phone.png"), full_page=False)
    page.goto("/feedback?lang=cy")
    page.screenshot(path=str(ARTIFACTS / "feedback-phone-cy.png"), full_page=False)
    assert (ARTIFACTS / "feedback-phone.png").stat().st_size > 10_000
