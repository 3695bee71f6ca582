"""The tablet app is for social workers only, and runs in one tab at a time."""

from __future__ import annotations

import pytest

from tests.browser.conftest import serious_violations
from tests.browser.tablet_support import local_records, sign_in_tablet
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
