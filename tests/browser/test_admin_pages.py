"""The admin's pages in a real browser: create a user, disable another, revoke a lost tablet,
retry a dead letter; axe-core on every page, screenshots at desktop and tablet widths.
"""

from __future__ import annotations

from sqlalchemy import select

from service.auth.models import User
from service.core_system.models import MessageStatus, OutboxMessage
from service.extensions import db
from tests.api.test_core_system import approved_visit
from tests.browser.conftest import screenshot, serious_violations

WIDTHS = {"desktop": (1280, 900), "tablet": (820, 1180)}


def check(page, name):  # type: ignore[no-untyped-def]
    """No serious or critical axe violations, and a screenshot at each width."""
    for width, (x, y) in WIDTHS.items():
        page.set_viewport_size({"width": x, "height": y})
        assert serious_violations(page) == [], (name, width)
        screenshot(page, f"desk-admin-{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_an_admin_creates_a_user_and_disables_another(app, world, signed_in):
    page = signed_in(world.usernames["admin"])
    page.click(".govuk-service-navigation__link:has-text('Users')")
    page.wait_for_url("**/desk/admin/users")
    check(page, "users")
    page.click("text=Create a user")
    check(page, "new-user")
    page.fill("#username", "new.worker")
    page.fill("#display_name", "Ola Worker")
    page.check("label:has-text('Social worker')")
    page.check("label:has-text('Team-A')")
    page.fill("#password", "short")
    page.click("button:has-text('Create user')")
    assert page.locator(".govuk-error-summary").is_visible()
    assert "Use at least 12 characters" in page.inner_text(".govuk-error-summary")
    assert page.title().startswith("Error:")
    check(page, "new-user-error")
    page.fill("#password", "plum tree by the canal")
    page.click("button:has-text('Create user')")
    assert "Ola Worker (new.worker) can now sign in." in page.inner_text(
        ".govuk-notification-banner"
    )
    check(page, "user")
    page.click("a:has-text('Change'):has-text('role and teams')")
    check(page, "role")
    page.go_back()
    page.click("a:has-text('Reset')")
    check(page, "password")

    page.goto("/desk/admin/users")
    page.click(f"a:has-text('{world.usernames['worker_b']}')")
    page.click("text=Disable this account")
    check(page, "disable")
    page.click("button:has-text('Disable the account')")
    assert "is disabled and signed out everywhere" in page.inner_text("body")
    assert page.inner_text(".govuk-summary-list").count("Disabled") == 1
    with app.app_context():
        disabled = db.session.scalar(
            select(User).where(User.username == world.usernames["worker_b"])
        )
        assert not disabled.active


def test_an_admin_revokes_a_lost_tablet(app, world, signed_in, sign_in):
    tablet = sign_in(world.usernames["worker_a"], device_id="tablet-lost-on-the-bus")
    page = signed_in(world.usernames["admin"])
    page.click(".govuk-service-navigation__link:has-text('Devices')")
    assert "tablet-lost-on-the-bus" in page.inner_text("table")
    check(page, "devices")
    page.click("a:has-text('Revoke')")
    check(page, "revoke-device")
    page.click("button:has-text('Revoke the tablet')")
    assert "is revoked" in page.inner_text(".govuk-notification-banner")
    assert tablet.get("/me").status_code == 401


def test_an_admin_retries_a_dead_letter(app, world, signed_in, worker, supervisor):
    approved_visit(app, world, worker, supervisor)
    with app.app_context():
        db.session.execute(
            db.update(OutboxMessage).values(
                status=MessageStatus.DEAD, attempts=15, last_error="HTTP 422 from the core system"
            )
        )
        db.session.commit()
    page = signed_in(world.usernames["admin"])
    page.click(".govuk-service-navigation__link:has-text('Deliveries')")
    page.select_option("#status", "dead")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**/desk/admin/outbox?status=dead")
    assert "HTTP 422 from the core system" in page.inner_text("table")
    check(page, "outbox")
    page.click("table a.govuk-link")
    check(page, "message")
    page.click("button:has-text('Retry')")
    assert "queued again" in page.inner_text(".govuk-notification-banner")
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.status)) == "pending"
