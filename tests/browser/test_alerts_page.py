"""The alerts page in a real browser: a manager opens it from the navigation and acknowledges
an urgent alert; axe-core finds nothing serious; screenshots at desktop and tablet widths.
"""

from __future__ import annotations

from tests.api.test_feedback_urgent import post
from tests.browser.conftest import screenshot, serious_violations
from tests.browser.test_admin_pages import WIDTHS
from tests.factories import URGENT_MESSAGE


def test_a_manager_acknowledges_an_urgent_alert(app, world, signed_in):
    post(app.test_client(), urgent="y", anything_else=URGENT_MESSAGE)
    page = signed_in(world.usernames["manager"])
    page.click(".govuk-service-navigation__link:has-text('Alerts')")
    page.wait_for_url("**/desk/alerts")
    assert "a care leaver has asked for help now" in page.content()
    assert URGENT_MESSAGE not in page.content()
    for width, (x, y) in WIDTHS.items():
        page.set_viewport_size({"width": x, "height": y})
        assert serious_violations(page) == [], width
        screenshot(page, f"desk-alerts-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.click("button:has-text('Acknowledge')")
    page.wait_for_url("**/desk/alerts")
    assert "Alert acknowledged." in page.content()
    assert "Not yet" not in page.content()
    assert serious_violations(page) == []
