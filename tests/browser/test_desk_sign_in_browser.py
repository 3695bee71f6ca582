"""Signing in to the desk pages in a real browser: the form, errors, keyboard only, axe."""

from __future__ import annotations

from tests.browser.conftest import at_desk_start, screenshot, serious_violations


def test_sign_in_and_out_with_the_keyboard_only(page, world):
    page.goto("/desk/")
    page.wait_for_url("**/desk/sign-in**")
    assert serious_violations(page) == []
    page.keyboard.press("Tab")  # the skip link first
    page.focus("#username")
    page.keyboard.type(world.usernames["manager"])
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse battery staple")
    page.keyboard.press("Enter")
    page.wait_for_url(at_desk_start)
    assert "Signed in as" in page.inner_text("body")
    assert serious_violations(page) == []
    screenshot(page, "desk-start-manager")
    page.click("button:has-text('Sign out')")
    page.wait_for_url("**/desk/sign-in**")
    assert "You have signed out" in page.inner_text("body")
    page.goto("/desk/")
    page.wait_for_url("**/desk/sign-in**")


def test_a_wrong_password_is_summarised_and_accessible(page, world):
    page.goto("/desk/sign-in")
    page.fill("#username", world.usernames["supervisor_a"])
    page.fill("#password", "not the password")
    page.click("button:has-text('Sign in')")
    summary = page.locator(".govuk-error-summary")
    assert summary.is_visible()
    assert page.title().startswith("Error:")
    assert serious_violations(page) == []
    screenshot(page, "desk-sign-in-error")
