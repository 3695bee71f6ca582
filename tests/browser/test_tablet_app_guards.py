"""The tablet app's guards: for social workers only, answers held to the service's limits (and its
refusals shown on their fields), the status bar, one tab at a time, deleting with a confirmation.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import serious_violations
from tests.browser.tablet_support import (
    held_visit,
    local_records,
    record_start,
    sign_in_tablet,
    sync_until_taken,
)
from tests.factories import PASSWORD


@pytest.mark.parametrize("who", ["supervisor_a", "manager", "admin"])
def test_only_a_social_worker_may_use_the_tablet(tablet, world, who):
    answers: list[tuple[str, str, int]] = []
    tablet.on("response", lambda r: answers.append((r.request.method, r.url, r.status)))
    tablet.goto("/app/")
    tablet.wait_for_selector("#sign-in-form")
    tablet.fill("#f-username", world.usernames[who])
    tablet.fill("#f-password", PASSWORD)
    tablet.click("button:has-text('Sign in')")
    tablet.wait_for_selector("#role-notice")
    assert (
        "The tablet app is for social workers. Supervisors, managers and admins use the desk"
        in (tablet.inner_text("#role-notice"))
    )
    assert tablet.get_attribute("#role-notice a", "href") == "/desk/"
    assert not local_records(tablet)["exists"] or local_records(tablet)["visits"] == 0
    cases = tablet.evaluate(
        """async () => {
      if (!(await indexedDB.databases()).some(d => d.name === 'seen-and-heard')) return 0;
      const db = await new Promise((ok) => { const r = indexedDB.open('seen-and-heard'); r.onsuccess = () => ok(r.result); });
      if (!db.objectStoreNames.contains('cases')) { db.close(); return 0; }
      const n = await new Promise(ok => { const r = db.transaction('cases').objectStore('cases').count(); r.onsuccess = () => ok(r.result); });
      db.close();
      return n;
    }"""
    )
    assert cases == 0
    # The session was ended on the service: the tablet is not signed in after a reload.
    tablet.reload()
    tablet.wait_for_selector("#sign-in-form")
    assert tablet.locator("#children").count() == 0
    api = [
        (method, url.split("/api/v1", 1)[1], code)
        for method, url, code in answers
        if "/api/v1/" in url
    ]
    assert ("POST", "/auth/logout", 204) in api, api
    assert [call for call in api if call[1] not in ("/auth/token", "/me", "/auth/logout")] == []
    assert serious_violations(tablet) == []
    # A social worker then signs in on the same tablet as usual.
    sign_in_tablet(tablet, world.usernames["worker_a"])
    assert tablet.locator("#role-notice").count() == 0
    assert tablet.errors == []


OVERLONG = """([selector, length]) => {
  const field = document.querySelector(selector);
  field.value = 'x'.repeat(length);  // as an old copy of the app, or a paste past the limit, would
  field.dispatchEvent(new Event('input', {bubbles: true}));
}"""


def test_answers_over_the_services_limits_are_refused_on_their_fields(tablet, world):
    sign_in_tablet(tablet, world.usernames["worker_a"])
    record_start(tablet, world.case_ids["a2"])
    assert tablet.get_attribute("#f-location", "maxlength") == "100"
    tablet.evaluate(OVERLONG, ["#f-location", 150])
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#child-form")
    name = tablet.inner_text("h1").strip()
    assert tablet.get_attribute("#f-children-0-voice-scale-question", "maxlength") == "500"
    tablet.check("#f-children-0-seen")
    tablet.check("#f-children-0-voice-scale-score-7")
    tablet.check("#f-children-0-voice-scale-scored_by")
    tablet.evaluate(OVERLONG, ["#f-children-0-voice-scale-question", 600])
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#finish-form")
    tablet.click("button:has-text('Save and finish later')")
    tablet.wait_for_selector("#children")
    tablet.click("#sync-now")
    # The status bar says so at once, on whatever screen: the visit has not reached the service.
    tablet.wait_for_selector("#sync-status [data-attention='1']")
    assert "Needs attention" in tablet.inner_text("#sync-status")
    assert "Nothing waiting to send" not in tablet.inner_text("#sync-status")
    visit_id = held_visit(tablet)["id"]
    tablet.goto(f"/app/#/visit/{visit_id}/finish")
    tablet.wait_for_selector("#summary .govuk-error-summary")
    summary = tablet.inner_text("#summary")
    assert "Where must be 100 characters or fewer." in summary, summary
    assert f"{name}: The question asked must be 500 characters or fewer." in summary, summary
    assert "You can submit" not in tablet.inner_text("#checklist")
    tablet.click("#summary a:has-text('Where must be')")
    tablet.wait_for_selector("#visit-form")
    assert "Where must be 100 characters or fewer." in tablet.inner_text(
        ".govuk-form-group--error:has(#f-location)"
    )
    tablet.goto(f"/app/#/visit/{visit_id}/child/0")
    tablet.wait_for_selector("#child-form")
    assert "The question asked must be 500 characters or fewer." in tablet.inner_text(
        ".govuk-form-group--error:has(#f-children-0-voice-scale-question)"
    )
    assert serious_violations(tablet) == []
    # Put right, the messages go, and the service takes the visit.
    tablet.fill("#f-children-0-voice-scale-question", "How safe do you feel?")
    tablet.wait_for_timeout(500)
    assert (
        tablet.locator(".govuk-form-group--error:has(#f-children-0-voice-scale-question)").count()
        == 0
    )
    tablet.goto(f"/app/#/visit/{visit_id}")
    tablet.wait_for_selector("#visit-form")
    tablet.fill("#f-location", "The family home")
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#child-form")
    sync_until_taken(tablet)
    assert tablet.errors == []


def test_the_app_runs_in_one_tab_at_a_time(tablet, world):
    sign_in_tablet(tablet, world.usernames["worker_a"])
    second = tablet.context.new_page()
    second.goto("/app/")
    second.wait_for_selector("#other-tab")
    assert "Seen and Heard is open in another tab or window; close this one." in second.inner_text(
        "main"
    )
    assert second.locator("#children, #sign-in-form, #sync-status").count() == 0
    assert serious_violations(second) == []
    # Taken over here, the first tab stops and says so; the second has the caseload.
    second.click("#use-here")
    second.wait_for_selector("#children")
    tablet.wait_for_selector("#other-tab")
    assert tablet.locator("#children").count() == 0
    tablet.evaluate("location.hash = '#/sign-out'")
    tablet.wait_for_timeout(300)
    assert tablet.locator("#confirm-sign-out").count() == 0
    # Closed, the other tab leaves the app free for a new one.
    second.close()
    tablet.goto("/app/#/")
    tablet.reload()
    tablet.wait_for_selector("#children")
    assert tablet.errors == []


def test_a_refused_submit_names_the_child_each_message_is_about(tablet, world):
    sign_in_tablet(tablet, world.usernames["worker_a"])
    record_start(tablet, world.case_ids["a1"])  # two children
    tablet.click("button:has-text('Continue')")
    names = []
    for _ in range(2):
        tablet.wait_for_selector("#child-form")
        names.append(tablet.inner_text("h1").strip())
        tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#finish-form")
    tablet.click("button:has-text('Submit visit')")
    tablet.wait_for_selector("#summary .govuk-error-summary")
    summary = tablet.inner_text("#summary")
    for name in names:
        assert f"{name}: Say whether the child was seen." in summary, summary
    assert tablet.errors == []


HELD_BODY = """async () => {
  const db = await new Promise((ok) => { const r = indexedDB.open('seen-and-heard'); r.onsuccess = () => ok(r.result); });
  const all = await new Promise(ok => { const r = db.transaction('visits').objectStore('visits').getAll(); r.onsuccess = () => ok(r.result); });
  db.close();
  return all[0].body;
}"""


def test_a_screen_left_by_a_link_keeps_its_last_answers_and_writes_nothing_after(tablet, world):
    """Each screen holds its own copy of the visit and autosaves it whole, a moment after the
    last keystroke. Left by a link rather than its buttons, its waiting save is made before the
    next screen is drawn, and it saves nothing later, so it cannot write its old copy over what
    the next screen saved (found by a loaded CI run: a corrected answer came back).
    """
    sign_in_tablet(tablet, world.usernames["worker_a"])
    record_start(tablet, world.case_ids["a2"])
    visit_id = held_visit(tablet)["id"]
    # Typed, then left at once by the address (as a link or the back button would).
    tablet.fill("#f-location", "The kitchen")
    tablet.evaluate(f"location.hash = '#/visit/{visit_id}/child/0'")
    tablet.wait_for_selector("#child-form")
    assert tablet.evaluate(HELD_BODY)["location"] == "The kitchen"  # saved before this screen
    tablet.check("#f-children-0-seen")
    tablet.fill("#f-children-0-voice-own_words", "I like my room.")
    tablet.evaluate(f"location.hash = '#/visit/{visit_id}'")
    tablet.wait_for_selector("#visit-form")
    assert tablet.input_value("#f-location") == "The kitchen"
    tablet.fill("#f-location", "The garden")
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#child-form")
    tablet.wait_for_timeout(1000)  # longer than any save a screen left behind still had waiting
    body = tablet.evaluate(HELD_BODY)
    assert body["location"] == "The garden"
    assert body["children"][0]["voice"]["own_words"] == "I like my room."
    assert tablet.input_value("#f-children-0-voice-own_words") == "I like my room."
    assert tablet.errors == []


def test_typing_while_a_sync_asked_for_runs_is_kept(tablet, world):
    """Sync now draws the screen again with what the sync brought, but not under the fingers
    of a worker who went on typing meanwhile (a stranger's try-out lost every keystroke typed
    in the first 300 ms after the tap).
    """
    sign_in_tablet(tablet, world.usernames["worker_a"])
    record_start(tablet, world.case_ids["a2"])
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#child-form")
    tablet.check("#f-children-0-seen")
    tablet.click("#sync-now")
    tablet.click("#f-children-0-voice-worries")
    tablet.keyboard.type("The dog next door.", delay=20)
    tablet.wait_for_selector("#sync-status:not(:has-text('Sending'))")
    tablet.wait_for_timeout(800)  # past any autosave
    assert tablet.input_value("#f-children-0-voice-worries") == "The dog next door."
    assert tablet.evaluate(HELD_BODY)["children"][0]["voice"]["worries"] == "The dog next door."
    assert tablet.errors == []
