"""The tablet app's life beside the service, in Chromium with touch: a conflict chosen in the UI,
a visit returned by a supervisor, a revoked tablet and a signed-out one wiped, a new app version
announced, the keyboard alone and 200% zoom. Axe on every screen, screenshots in both orientations.
"""

from __future__ import annotations

import uuid

from service.extensions import db
from service.tablet.shell import SHELL_FILES
from service.visits.models import Visit
from tests.browser.conftest import serious_violations
from tests.browser.tablet_support import (
    CACHES,
    PORTRAIT,
    both_orientations,
    changed_at_the_desk,
    draw,
    held_visit,
    local_records,
    record_start,
    sign_in_tablet,
    sync_until_taken,
    wait_until,
)
from tests.factories import PASSWORD

SHELL_CACHED = """async () => {
  const name = (await caches.keys()).find(key => key.startsWith('workbox-precache'));
  return name ? (await (await caches.open(name)).keys()).length : 0;
}"""


def a_conflict(tablet, world, sign_in, *, submit_at_desk: bool = False):  # type: ignore[no-untyped-def]
    """A draft synced from the tablet, changed at the desk, then changed on the tablet: the
    next sync answers "conflict". Returns the visit id and the desk's API session.
    """
    sign_in_tablet(tablet, world.usernames["worker_a"])
    record_start(tablet, world.case_ids["a2"])
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#child-form")
    tablet.check("#f-children-0-seen")
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#finish-form")
    tablet.fill("#f-observations", "First notes.")
    tablet.click("button:has-text('Save and finish later')")
    tablet.wait_for_selector("#local-visits")
    sync_until_taken(tablet)  # the draft reaches the service
    visit_id = held_visit(tablet)["id"]
    worker = sign_in(world.usernames["worker_a"])
    changed_at_the_desk(worker, visit_id, "Changed at the desk.", submit=submit_at_desk)

    tablet.click(f"[data-visit='{visit_id}'] a")
    tablet.wait_for_selector("#visit-form")
    tablet.goto(f"/app/#/visit/{visit_id}/finish")
    tablet.wait_for_selector("#finish-form")
    tablet.fill("#f-observations", "Changed on the tablet.")
    tablet.click("button:has-text('Save and finish later')")
    tablet.wait_for_selector("#local-visits:has-text('Changed elsewhere')")
    return visit_id, worker


def test_a_conflict_is_shown_side_by_side_and_the_worker_chooses(tablet, world, sign_in):
    visit_id, worker = a_conflict(tablet, world, sign_in)
    tablet.click(f"[data-visit='{visit_id}'] a:has-text('Compare the copies')")
    tablet.wait_for_selector("table.app-compare")
    differing = tablet.inner_text("tr.app-differs")
    assert "Changed at the desk." in differing and "Changed on the tablet." in differing
    both_orientations(tablet, "conflict")
    tablet.click('button:has-text("Keep this tablet\'s copy")')
    for _ in range(40):
        if worker.get(f"/visits/{visit_id}").get_json()["version"] == 3:
            break
        tablet.wait_for_timeout(250)
    kept = worker.get(f"/visits/{visit_id}").get_json()
    assert kept["observations"] == "Changed on the tablet." and kept["status"] == "draft"
    assert held_visit(tablet)["state"] == "draft" and held_visit(tablet)["base_version"] == 3
    assert tablet.errors == []


def test_keeping_the_services_copy_replaces_the_tablets(tablet, world, sign_in):
    visit_id, worker = a_conflict(tablet, world, sign_in)
    tablet.click(f"[data-visit='{visit_id}'] a:has-text('Compare the copies')")
    tablet.click('button:has-text("Keep the service\'s copy")')
    tablet.wait_for_selector(f"[data-visit='{visit_id}']:has-text('Draft')")
    held = held_visit(tablet)
    assert held["state"] == "draft" and held["base_version"] == 2 and not held["dirty"]
    tablet.goto(f"/app/#/visit/{visit_id}/finish")
    assert tablet.input_value("#f-observations") == "Changed at the desk."
    assert worker.get(f"/visits/{visit_id}").get_json()["version"] == 2
    assert tablet.errors == []


def test_a_copy_submitted_at_the_desk_cannot_be_replaced_from_the_tablet(tablet, world, sign_in):
    visit_id, worker = a_conflict(tablet, world, sign_in, submit_at_desk=True)
    tablet.click(f"[data-visit='{visit_id}'] a:has-text('Compare the copies')")
    tablet.wait_for_selector(".govuk-warning-text:has-text('cannot replace it')")
    assert tablet.locator("[data-keep='tablet']").count() == 0
    assert serious_violations(tablet) == []
    tablet.click('button:has-text("Keep the service\'s copy")')
    wait_until(tablet, lambda held: held["visits"] == 0)
    assert worker.get(f"/visits/{visit_id}").get_json()["status"] == "submitted"
    assert tablet.errors == []


def test_a_revoked_tablet_wipes_every_record_file_and_cache(tablet, world, sign_in):
    tablet.goto("/app/")
    tablet.wait_for_selector("#sign-in-form")
    both_orientations(tablet, "sign-in")
    sign_in_tablet(tablet, world.usernames["worker_a"])
    for _ in range(40):
        if tablet.evaluate(CACHES):
            break
        tablet.wait_for_timeout(250)
    assert tablet.evaluate(CACHES), "the service worker cached the app shell"
    record_start(tablet, world.case_ids["a2"])
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#child-form")
    tablet.check("#f-children-0-seen")
    draw(tablet)
    tablet.click("button:has-text('Save drawing')")
    tablet.wait_for_selector("[data-files='drawing'] img")
    held = local_records(tablet)
    assert held["visits"] == 1 and held["files"] == 1
    device = tablet.evaluate("localStorage.getItem('seen-and-heard.device-id')")
    admin = sign_in(world.usernames["admin"])
    found = next(d for d in admin.get("/devices").get_json() if d["device_id"] == device)
    assert admin.delete(f"/devices/{found['id']}").status_code == 200

    tablet.click("#sync-now")
    tablet.wait_for_selector("#ended-notice:has-text('revoked')")
    assert local_records(tablet) == {"exists": False, "visits": 0, "files": 0}
    assert tablet.evaluate(CACHES) == []
    assert tablet.evaluate("sessionStorage.length") == 0
    both_orientations(tablet, "revoked")


def test_a_returned_visit_appears_with_the_supervisors_comment(tablet, app, world, sign_in):
    from service.reviews.operations import review_visit
    from service.visits.lifecycle import etag
    from tests.review_pages_support import submitted_visit

    worker = sign_in(world.usernames["worker_a"])
    visit_id, _ = submitted_visit(app, worker, world.case_ids["a1"])
    with app.app_context():
        visit = db.session.get(Visit, uuid.UUID(visit_id))
        supervisor = next(u for u in visit.case.team.members if u.role == "supervisor")
        decision = {
            "decision": "return",
            "comment": "Add the bedroom.",
            "management_decision": None,
        }
        review_visit(supervisor, visit.id, decision, etag(visit))
        db.session.commit()
    sign_in_tablet(tablet, world.usernames["worker_a"])
    tablet.wait_for_selector("#local-visits:has-text('Returned by your supervisor')")
    assert "Add the bedroom." in tablet.inner_text("#local-visits")
    tablet.wait_for_selector("#sync-status [data-attention='1']")
    assert "Nothing waiting to send" not in tablet.inner_text("#sync-status")
    tablet.click(f"[data-visit='{visit_id}'] a")
    tablet.wait_for_selector("#visit-form")
    assert "Add the bedroom." in tablet.inner_text("main .govuk-notification-banner")
    both_orientations(tablet, "returned")
    tablet.goto(f"/app/#/visit/{visit_id}/finish")
    tablet.wait_for_selector("#finish-form")
    tablet.fill("#f-next_actions", "Bedroom seen on the next visit.")
    tablet.wait_for_selector("#checklist:has-text('You can submit the visit')")
    tablet.click("button:has-text('Submit visit')")
    wait_until(tablet, lambda held: held["visits"] == 0)
    again = worker.get(f"/visits/{visit_id}").get_json()
    assert again["status"] == "submitted" and again["next_actions"].startswith("Bedroom seen")
    assert tablet.errors == []


def test_the_worker_is_told_when_a_new_version_is_ready(tablet, app, world):
    from service.tablet.routes import SHELL
    from service.tablet.shell import Shell

    sign_in_tablet(tablet, world.usernames["worker_a"])
    tablet.reload()  # now the service worker controls the page
    tablet.wait_for_function("navigator.serviceWorker.controller !== null")
    assert tablet.is_hidden("#app-update")
    running = tablet.evaluate("fetch('/app/version.json').then(r => r.json())")["version"]
    with app.app_context():
        shell = app.extensions[SHELL]
        app.extensions[SHELL] = Shell(shell.entries, "a-newer-version")
    try:
        tablet.evaluate("window.dispatchEvent(new Event('online'))")  # the app looks for updates
        tablet.wait_for_selector("#app-update:has-text('A new version of the app is ready')")
        assert serious_violations(tablet) == []
        tablet.click("button:has-text('Use the new version')")
        tablet.wait_for_selector("#children")
        tablet.wait_for_function(
            "navigator.serviceWorker.controller && "
            "navigator.serviceWorker.controller.state === 'activated'"
        )
        assert tablet.is_hidden("#app-update")
        sw = tablet.evaluate("fetch('/app/sw.js').then(r => r.text())")
        assert "a-newer-version" in sw and running not in sw
    finally:
        app.extensions[SHELL] = shell


def test_keyboard_only_and_200_percent_zoom(tablet, world):
    """Signed in with the keyboard alone; at 200% zoom (half the CSS width) nothing scrolls
    sideways on any screen of a visit.
    """
    tablet.goto("/app/")
    tablet.wait_for_selector("#sign-in-form")
    tablet.keyboard.press("Tab")  # the skip link first
    assert tablet.evaluate("document.activeElement.className") == "govuk-skip-link"
    tablet.focus("#f-username")
    tablet.keyboard.type(world.usernames["worker_a"])
    tablet.keyboard.press("Tab")
    tablet.keyboard.type(PASSWORD)
    tablet.keyboard.press("Enter")
    tablet.wait_for_selector("#children")
    link = tablet.locator(f"a[href='#/visit/new/{world.case_ids['a2']}']").first
    link.focus()
    tablet.keyboard.press("Enter")
    tablet.wait_for_selector("#visit-form")
    assert tablet.evaluate("document.activeElement.tagName") == "H1"  # focus moved to the screen
    tablet.set_viewport_size({"width": PORTRAIT["width"] // 2, "height": PORTRAIT["height"] // 2})
    for screen in ("", "/child/0", "/finish"):
        visit_id = tablet.url.split("/visit/")[1].split("/")[0]
        tablet.goto(f"/app/#/visit/{visit_id}{screen}")
        tablet.wait_for_selector("main form")
        width = tablet.evaluate("document.documentElement.scrollWidth")
        assert width <= PORTRAIT["width"] // 2, f"{screen or 'start'} scrolls sideways: {width}"
        assert serious_violations(tablet) == []
    tablet.set_viewport_size(PORTRAIT)
    tablet.click("a:has-text('Sign out')")
    tablet.wait_for_selector("#confirm-sign-out")
    assert "removes every record, drawing, photo and recording" in tablet.inner_text("main")
    both_orientations(tablet, "sign-out")
    tablet.click("#confirm-sign-out")
    tablet.wait_for_selector("#ended-notice:has-text('You have signed out')")
    assert local_records(tablet)["exists"] is False
    assert tablet.evaluate(CACHES) == []
    # Signed in again, the tablet gets its shell back and works offline at once.
    sign_in_tablet(tablet, world.usernames["worker_a"])
    for _ in range(40):
        if tablet.evaluate(SHELL_CACHED) == len(SHELL_FILES) + 2:  # and the page, the manifest
            break
        tablet.wait_for_timeout(250)
    tablet.context.set_offline(True)
    tablet.reload()
    tablet.wait_for_selector("#children")
    tablet.context.set_offline(False)
    assert tablet.errors == []


def test_a_draft_is_deleted_here_and_on_the_service(tablet, app, world):
    sign_in_tablet(tablet, world.usernames["worker_a"])
    record_start(tablet, world.case_ids["a2"])
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#child-form")
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#finish-form")
    tablet.click("button:has-text('Save and finish later')")
    sync_until_taken(tablet)  # the draft reaches the service
    visit_id = held_visit(tablet)["id"]
    tablet.goto(f"/app/#/visit/{visit_id}/finish")
    tablet.click("button:has-text('Delete this draft')")
    tablet.wait_for_selector("#delete-confirm:has-text('from this tablet and from the service')")
    assert serious_violations(tablet) == []
    tablet.click("button:has-text('Cancel')")  # one tap deletes nothing
    assert local_records(tablet)["visits"] == 1
    tablet.click("button:has-text('Delete this draft')")
    tablet.click("button:has-text('Yes, delete this draft')")
    tablet.wait_for_selector("#children")
    assert local_records(tablet)["visits"] == 0
    with app.app_context():
        assert db.session.get(Visit, uuid.UUID(visit_id)) is None
    assert tablet.errors == []


TABLET_COPY_CHANGED = """async ([visitId]) => {
  const db = await new Promise((ok) => { const r = indexedDB.open('seen-and-heard'); r.onsuccess = () => ok(r.result); });
  const store = db.transaction('visits', 'readwrite').objectStore('visits');
  const visit = await new Promise(ok => { const r = store.get(visitId); r.onsuccess = () => ok(r.result); });
  const child = visit.body.children[0];
  child.voice = {...(child.voice || {}), method: 'play', consent_to_share: false,
    scale: {score: 4, question: 'How safe?', scored_by: 'child'}};
  await new Promise(ok => { const r = store.put(visit); r.onsuccess = () => ok(); });
  db.close();
}"""


def test_the_comparison_leaves_out_no_field(tablet, world, sign_in):
    """A difference in the scale, how views were gathered or consent shows as a difference."""
    visit_id, _ = a_conflict(tablet, world, sign_in)
    tablet.evaluate(TABLET_COPY_CHANGED, [visit_id])
    tablet.goto(f"/app/#/visit/{visit_id}/conflict")
    tablet.wait_for_selector("table.app-compare")
    differing = tablet.eval_on_selector_all(
        "tr.app-differs", "rows => rows.map(r => r.dataset.path.split('.').slice(2).join('.'))"
    )
    for path in ("voice.method", "voice.consent_to_share", "voice.scale.score",
                 "voice.scale.question", "voice.scale.scored_by"):  # fmt: skip
        assert path in differing, differing
    assert "Play" in tablet.inner_text("tr[data-path$='voice.method']")
    same = tablet.locator("tr[data-path='started_at']")
    assert "app-differs" not in (same.get_attribute("class") or "")  # one instant, two spellings
    assert tablet.locator("tr[data-path='case_id'], tr[data-path$='child_id']").count() == 0
    assert serious_violations(tablet) == []
    assert tablet.errors == []


def test_the_status_bar_says_a_visit_changed_elsewhere_needs_attention(tablet, world, sign_in):
    a_conflict(tablet, world, sign_in)
    tablet.wait_for_selector("#sync-status [data-attention='1']")
    text = tablet.inner_text("#sync-status")
    assert "needs you to check it" in text and "Up to date" not in text
    assert serious_violations(tablet) == []


def test_signing_in_says_when_the_caseload_is_here(tablet, world):
    sign_in_tablet(tablet, world.usernames["worker_a"])
    tablet.wait_for_selector("main:has-text('Your caseload is on this tablet')")
    assert "Bringing your caseload" not in tablet.inner_text("main")
    levels = tablet.eval_on_selector_all("main h1, main h2", "hs => hs.map(h => h.tagName)")
    assert levels[0] == "H1", levels  # the "Done" banner's h2 comes after the page's h1


def test_a_revoked_tablet_signing_in_is_told_why(tablet, world, sign_in):
    sign_in_tablet(tablet, world.usernames["worker_a"])
    device = tablet.evaluate("localStorage.getItem('seen-and-heard.device-id')")
    admin = sign_in(world.usernames["admin"])
    found = next(d for d in admin.get("/devices").get_json() if d["device_id"] == device)
    assert admin.delete(f"/devices/{found['id']}").status_code == 200
    tablet.click("#sync-now")
    tablet.wait_for_selector("#ended-notice:has-text('revoked')")
    tablet.fill("#f-username", world.usernames["worker_a"])
    tablet.fill("#f-password", PASSWORD)
    tablet.click("button:has-text('Sign in')")
    tablet.wait_for_selector(".govuk-error-summary:has-text('ask an admin')")
    # Said once, in the summary: it is about the tablet, not the username.
    assert "ask an admin" not in tablet.inner_text("#sign-in-form")
    assert tablet.inner_text("main").count("ask an admin") == 1
    assert tablet.input_value("#f-username") == world.usernames["worker_a"]
    assert serious_violations(tablet) == []
