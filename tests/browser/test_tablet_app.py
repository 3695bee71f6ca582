"""The tablet app in Chromium with touch, at tablet sizes: sign in, record a visit for two
children offline (a drawing made with the pointer, a photo), sync when back online, a conflict
chosen in the UI, a revoked tablet wiped, axe on every screen, screenshots in both orientations.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from service.evidence.models import Attachment
from service.extensions import db
from service.visits.models import Visit, VisitVersion
from service.visits.record import has_views
from tests.browser.conftest import screenshot, serious_violations
from tests.factories import PASSWORD

PORTRAIT = {"width": 820, "height": 1180}
LANDSCAPE = {"width": 1180, "height": 820}
LOCAL_VISIT_IDS = """async () => {
  const db = await new Promise((ok) => { const r = indexedDB.open('seen-and-heard'); r.onsuccess = () => ok(r.result); });
  const ids = await new Promise(ok => { const r = db.transaction('visits').objectStore('visits').getAllKeys(); r.onsuccess = () => ok(r.result); });
  db.close();
  return ids;
}"""
LOCAL_RECORDS = """async () => {
  const names = (await indexedDB.databases()).map(d => d.name);
  if (!names.includes('seen-and-heard')) return {exists: false, visits: 0, files: 0};
  const db = await new Promise((ok, fail) => { const r = indexedDB.open('seen-and-heard');
    r.onsuccess = () => ok(r.result); r.onerror = () => fail(r.error); });
  const count = (store) => new Promise(ok => {
    const r = db.transaction(store).objectStore(store).count(); r.onsuccess = () => ok(r.result); });
  const found = {exists: true, visits: await count('visits'), files: await count('files')};
  db.close();
  return found;
}"""


def photo_bytes() -> bytes:
    """A small real JPEG, as a tablet's camera would give."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def tablet(browser, live_server) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """A tablet-sized page with touch, its console errors collected on ``tab.errors``."""
    context = browser.new_context(
        base_url=live_server, viewport=PORTRAIT, has_touch=True, is_mobile=False
    )
    tab = context.new_page()
    tab.errors = []  # type: ignore[attr-defined]
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.on(
        "console",
        lambda message: tab.errors.append(message.text) if message.type == "error" else None,
    )
    yield tab
    context.close()


def both_orientations(tab, name: str) -> None:  # type: ignore[no-untyped-def]
    """Axe finds nothing serious, and screenshots are kept, in portrait and landscape."""
    for label, size in (("portrait", PORTRAIT), ("landscape", LANDSCAPE)):
        tab.set_viewport_size(size)
        assert serious_violations(tab) == [], f"{name} in {label}"
        screenshot(tab, f"tablet-{name}-{label}")
    tab.set_viewport_size(PORTRAIT)


def sign_in_tablet(tab, username: str) -> None:  # type: ignore[no-untyped-def]
    tab.goto("/app/")
    tab.wait_for_selector("#sign-in-form")
    tab.fill("#f-username", username)
    tab.fill("#f-password", PASSWORD)
    tab.click("button:has-text('Sign in')")
    tab.wait_for_selector("#children")
    tab.wait_for_function("document.documentElement.dataset.serviceWorker === 'registered'")
    tab.wait_for_function(
        "navigator.serviceWorker.controller !== null || navigator.serviceWorker.ready"
    )


def visit_snapshot(sign_in, world, visit_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The visit's first submitted version, read through the API as its worker."""
    worker = sign_in(world.usernames["worker_a"])
    version = worker.get(f"/visits/{visit_id}/versions/1")
    assert version.status_code == 200, version.get_json()
    return version.get_json()["snapshot"]  # type: ignore[no-any-return]


def local_records(tab) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What the app holds in IndexedDB: whether its database exists, and its visits and files."""
    return tab.evaluate(LOCAL_RECORDS)  # type: ignore[no-any-return]


def wait_until(tab, condition, seconds: float = 20) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Poll what the app holds until ``condition`` is true of it."""
    for _ in range(int(seconds * 4)):
        held = local_records(tab)
        if condition(held):
            return held
        tab.wait_for_timeout(250)
    raise AssertionError(f"the tablet still holds {held}")


def draw(tab) -> None:  # type: ignore[no-untyped-def]
    """Draw a zig-zag on the canvas with the pointer, as a finger would."""
    canvas = tab.locator("canvas.app-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y = box["x"] + 40, box["y"] + 40
    tab.mouse.move(x, y)
    tab.mouse.down()
    for step in range(1, 12):
        tab.mouse.move(x + step * 25, y + (60 if step % 2 else 0), steps=4)
    tab.mouse.up()


def record_start(tab, case_id: str) -> None:  # type: ignore[no-untyped-def]
    tab.locator(f"a[href='#/visit/new/{case_id}']").first.click()
    tab.wait_for_selector("#visit-form")
    tab.check("#f-announced-1")  # unannounced
    tab.fill("#f-location", "The family home")
    tab.fill("#f-people_present", "Mother\nMaternal grandmother")


def record_first_child(tab) -> None:  # type: ignore[no-untyped-def]
    """Seen alone, bedroom seen, their own words, the Three Houses, a scale and a photo."""
    tab.wait_for_selector("#child-form")
    tab.check("#f-children-0-seen")
    tab.check("#f-children-0-seen_alone")
    tab.check("#f-children-0-bedroom_seen")
    tab.fill("#f-children-0-voice-own_words", "I like it when Nan picks me up from school.")
    tab.fill("#f-children-0-voice-wishes_and_feelings", "Feels safe with Nan.")
    tab.fill("#f-children-0-voice-good_things", "Nan, football")
    tab.fill("#f-children-0-voice-worries", "Shouting at night")
    tab.fill("#f-children-0-voice-dreams", "To be a vet")
    tab.fill("#f-children-0-voice-scale-question", "How safe do you feel at home?")
    tab.check("#f-children-0-voice-scale-score-7")
    tab.check("#f-children-0-voice-scale-scored_by")
    tab.check("#f-children-0-voice-method")
    tab.check("#f-children-0-voice-consent_to_share")
    tab.set_input_files(
        "#photo-input", {"name": "bedroom.jpg", "mimeType": "image/jpeg", "buffer": photo_bytes()}
    )
    tab.wait_for_selector("[data-files='photo'] img")


def record_second_child(tab) -> None:  # type: ignore[no-untyped-def]
    """Seen, not alone (the child refused); their views are a drawing and nothing else."""
    tab.wait_for_selector("#child-form")
    tab.check("#f-children-1-seen")
    tab.check("#f-children-1-seen_alone-1")
    tab.check("#f-children-1-not_seen_alone_reason")  # the child refused
    tab.check("#f-children-1-bedroom_seen-1")
    draw(tab)
    tab.click("button:has-text('Save drawing')")
    tab.wait_for_selector("[data-files='drawing'] img")


def test_a_visit_recorded_offline_reaches_the_service_with_its_drawing_and_photo(
    tablet, world, app, sign_in
):
    sign_in_tablet(tablet, world.usernames["worker_a"])
    both_orientations(tablet, "caseload")
    tablet.context.set_offline(True)
    tablet.reload()  # the shell comes from the service worker; the caseload from IndexedDB
    tablet.wait_for_selector("#children")
    assert "Offline" in tablet.inner_text("#sync-status")
    record_start(tablet, world.case_ids["a1"])
    both_orientations(tablet, "visit-start")
    tablet.click("button:has-text('Continue')")
    record_first_child(tablet)
    both_orientations(tablet, "visit-child")
    tablet.click("button:has-text('Continue')")
    record_second_child(tablet)
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#finish-form")
    tablet.fill("#f-observations", "Home warm and tidy.")
    tablet.fill("#f-analysis", "Nan is a protective factor.")
    tablet.fill("#f-next_actions", "Core group on Friday.")
    tablet.wait_for_selector("#checklist:has-text('You can submit the visit')")
    both_orientations(tablet, "visit-finish")
    tablet.click("button:has-text('Submit visit')")
    tablet.wait_for_selector("#local-visits:has-text('Waiting to send')")
    held = local_records(tablet)
    assert held["visits"] == 1 and held["files"] == 2
    with app.app_context():
        assert db.session.query(Visit).count() == 0  # nothing left the tablet
    visit_id = tablet.evaluate(LOCAL_VISIT_IDS)[0]

    tablet.context.set_offline(False)
    tablet.evaluate("window.dispatchEvent(new Event('online'))")
    wait_until(tablet, lambda held: held["visits"] == 0 and held["files"] == 0)
    with app.app_context():
        visit = db.session.get(Visit, uuid.UUID(visit_id))
        assert visit.status == "submitted"
        evidence = {
            (row.kind, str(row.child_id))
            for row in db.session.query(Attachment).filter_by(visit_id=visit.id)
        }
    snapshot = visit_snapshot(sign_in, world, visit_id)
    first, second = (entry["child_id"] for entry in snapshot["children"])
    assert {first, second} == set(world.child_ids["a1"])
    assert evidence == {("photo", first), ("drawing", second)}
    # The second child's only views are the drawing: it counts, as the service's rule says.
    drawn = snapshot["children"][1]
    assert not any((drawn["voice"] or {}).get(name) for name in ("own_words", "good_things"))
    assert has_views(drawn, snapshot["evidence"])
    assert not has_views(drawn, [e for e in snapshot["evidence"] if e["kind"] != "drawing"])
    assert snapshot["children"][0]["voice"]["own_words"].startswith("I like it when Nan")
    assert tablet.errors == []


SERVER_ONLY = {
    "id", "status", "version", "worker", "recorded_at", "updated_at", "submitted_at",
    "last_submitted_at", "amendment_reason", "delivery",
}  # fmt: skip


def held_visit(tab) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The one visit the app holds (its id, base version and state)."""
    script = """async () => {
      const db = await new Promise((ok) => { const r = indexedDB.open('seen-and-heard'); r.onsuccess = () => ok(r.result); });
      const all = await new Promise(ok => { const r = db.transaction('visits').objectStore('visits').getAll(); r.onsuccess = () => ok(r.result); });
      db.close();
      return all.map(v => ({id: v.id, base_version: v.base_version ?? null, state: v.state, dirty: v.dirty}));
    }"""
    visits = tab.evaluate(script)
    assert len(visits) == 1, visits
    return visits[0]  # type: ignore[no-any-return]


def changed_at_the_desk(worker, visit_id: str, observations: str) -> int:  # type: ignore[no-untyped-def]
    """The same visit changed through the API elsewhere; its new version."""
    current = worker.get(f"/visits/{visit_id}")
    body = {k: v for k, v in current.get_json().items() if k not in SERVER_ONLY}
    body["children"] = [
        {k: v for k, v in entry.items() if k != "child_name"} for entry in body["children"]
    ]
    body["observations"] = observations
    changed = worker.put(
        f"/visits/{visit_id}", json=body, headers={"If-Match": current.headers["ETag"]}
    )
    assert changed.status_code == 200, changed.get_json()
    return changed.get_json()["version"]  # type: ignore[no-any-return]


def test_a_conflict_is_shown_side_by_side_and_the_worker_chooses(tablet, world, sign_in):
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
    for _ in range(40):  # the draft reaches the service
        if held_visit(tablet)["base_version"] == 1 and not held_visit(tablet)["dirty"]:
            break
        tablet.wait_for_timeout(250)
    visit_id = held_visit(tablet)["id"]
    worker = sign_in(world.usernames["worker_a"])
    assert changed_at_the_desk(worker, visit_id, "Changed at the desk.") == 2

    tablet.click(f"[data-visit='{visit_id}'] a")
    tablet.wait_for_selector("#visit-form")
    tablet.goto(f"/app/#/visit/{visit_id}/finish")
    tablet.wait_for_selector("#finish-form")
    tablet.fill("#f-observations", "Changed on the tablet.")
    tablet.click("button:has-text('Save and finish later')")
    tablet.wait_for_selector("#local-visits:has-text('Changed elsewhere')")
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


CACHES = "caches.keys()"


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


@pytest.fixture(scope="module")
def browser_with_microphone(browser) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """Chromium with a fake microphone that needs no prompt, for the recorder (launched by the
    same Playwright as the shared browser).
    """
    from tests.browser.conftest import CHROMIUM

    launched = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        ],
    )  # fmt: skip
    yield launched
    launched.close()


def test_an_audio_recording_with_consent_reaches_the_service(
    browser_with_microphone, live_server, app, world
):
    context = browser_with_microphone.new_context(
        base_url=live_server, viewport=LANDSCAPE, has_touch=True
    )
    context.grant_permissions(["microphone"], origin=live_server)
    tab = context.new_page()
    try:
        sign_in_tablet(tab, world.usernames["worker_a"])
        record_start(tab, world.case_ids["a2"])
        tab.click("button:has-text('Continue')")
        tab.wait_for_selector("#child-form")
        tab.check("#f-children-0-seen")
        tab.check("#f-children-0-seen_alone")
        tab.fill("#f-children-0-voice-own_words", "I want to stay at my school.")
        tab.check("#f-children-0-voice-consent_to_share")
        tab.click("button:has-text('Start recording')")
        tab.wait_for_selector("[data-audio-status]:has-text('Recording…')")
        tab.wait_for_timeout(1500)
        tab.click("button:has-text('Stop recording')")
        tab.wait_for_selector("[data-files='audio'] audio")
        tab.click("button:has-text('Continue')")
        tab.wait_for_selector("#finish-form")
        tab.wait_for_selector("#checklist:has-text('You can submit the visit')")
        tab.click("button:has-text('Submit visit')")
        wait_until(tab, lambda held: held["visits"] == 0 and held["files"] == 0)
        with app.app_context():
            audio = db.session.query(Attachment).filter_by(kind="audio").one()
            visit = db.session.get(Visit, audio.visit_id)
            assert audio.content_type in ("audio/mp4", "video/mp4") and audio.size > 0
            assert visit.status == "submitted"
            assert visit.children[0].consent_to_share is True
    finally:
        context.close()


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
    assert tablet.errors == []


def rule_cases(child_id: str, case_id: str) -> list[dict[str, Any]]:
    """Visit bodies that break the submit rules in different ways."""
    base = {
        "case_id": case_id,
        "visit_type": "statutory",
        "started_at": "2026-01-05T10:00:00+00:00",
        "ended_at": "2026-01-05T11:00:00+00:00",
    }
    child = {"child_id": child_id}
    return [
        {**base, "ended_at": None, "children": [{**child, "seen": None}]},
        {**base, "children": [{**child, "seen": False}]},
        {**base, "children": [{**child, "seen": False, "not_seen_reason": "other"}]},
        {**base, "children": [{**child, "seen": True, "seen_alone": False}]},
        {**base, "children": [{**child, "seen": True, "seen_alone": None, "voice": {"not_gathered_reason": "  "}}]},
        {**base, "children": [{**child, "seen": True, "seen_alone": True, "voice": {"worries": "Dogs"}}]},
    ]  # fmt: skip


def test_the_app_states_the_submit_rules_as_the_server_does(tablet, world, sign_in):
    """The app's copy of the rules gives the server's field paths and messages, word for word."""
    tablet.goto("/app/")
    tablet.wait_for_selector("#sign-in-form")
    worker = sign_in(world.usernames["worker_a"], device_id="rules-check")
    for body in rule_cases(world.child_ids["a2"][0], world.case_ids["a2"]):
        item = {**body, "id": str(uuid.uuid4()), "submit": True}
        answer = worker.post("/sync", json={"device_id": "rules-check", "visits": [item]})
        result = answer.get_json()["results"][0]
        server = result.get("errors", {}) if result["result"] == "rejected" else {}
        app_says = tablet.evaluate(
            "(body) => import('/static/app/rules.js').then(m => m.submissionErrors(body, []))", body
        )
        assert app_says == server, body


def test_a_connection_dropped_after_the_server_answered_is_resumed(tablet, app, world):
    """The first attachment upload and the first submit reach the server but their answers are
    lost on the way back; the app tries again and ends with one submitted visit, one drawing.
    """
    dropped: list[str] = []

    def drop_first_answer(route, request):  # type: ignore[no-untyped-def]
        body = request.post_data_buffer or b""
        kind = "upload" if request.url.endswith("/attachments") else "sync"
        submitting = kind == "upload" or b'"submit":true' in body
        if submitting and kind not in dropped:
            route.fetch()  # the server does the work...
            dropped.append(kind)
            route.abort("connectionreset")  # ...and the answer never arrives
        else:
            route.continue_()

    sign_in_tablet(tablet, world.usernames["worker_a"])
    tablet.context.route("**/api/v1/sync", drop_first_answer)
    tablet.context.route("**/api/v1/visits/*/attachments", drop_first_answer)
    record_start(tablet, world.case_ids["a2"])
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#child-form")
    tablet.check("#f-children-0-seen")
    tablet.check("#f-children-0-seen_alone")
    draw(tablet)  # the child's only views
    tablet.click("button:has-text('Save drawing')")
    tablet.wait_for_selector("[data-files='drawing'] img")
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#checklist:has-text('You can submit the visit')")
    tablet.click("button:has-text('Submit visit')")
    wait_until(tablet, lambda held: held["visits"] == 0 and held["files"] == 0, seconds=40)
    assert sorted(dropped) == ["sync", "upload"]
    with app.app_context():
        visit = db.session.query(Visit).one()
        assert visit.status == "submitted" and visit.version == 2
        drawings = db.session.query(Attachment).filter_by(visit_id=visit.id).all()
        assert [a.kind for a in drawings] == ["drawing"]
        assert db.session.query(VisitVersion).filter_by(visit_id=visit.id).count() == 1


def test_the_caseload_puts_the_worst_first(tablet, app, world):
    """Overdue longest first, then overdue least, then due soonest; offline from the last sync."""
    from datetime import date, timedelta

    from service.cases.models import Child

    a1_first, a1_second = world.child_ids["a1"]
    (a2_only,) = world.child_ids["a2"]
    due = {a2_only: -9, a1_second: -2, a1_first: 3}
    with app.app_context():
        for child_id, days in due.items():
            db.session.get(Child, uuid.UUID(child_id)).next_visit_due = date.today() + timedelta(
                days=days
            )
        db.session.commit()
    sign_in_tablet(tablet, world.usernames["worker_a"])
    tablet.context.set_offline(True)
    tablet.reload()
    tablet.wait_for_selector("#children")
    order = tablet.eval_on_selector_all("[data-child]", "cards => cards.map(c => c.dataset.child)")
    assert order == [a2_only, a1_second, a1_first]
    tags = tablet.eval_on_selector_all(
        "[data-child] .govuk-tag", "tags => tags.map(t => t.innerText)"
    )
    assert [tag.upper() for tag in tags] == [
        "OVERDUE BY 9 DAYS",
        "OVERDUE BY 2 DAYS",
        "DUE IN 3 DAYS",
    ]
    assert "2 overdue a visit" in tablet.inner_text("main")
    both_orientations(tablet, "caseload-overdue")


def test_the_rules_are_shown_where_the_worker_can_act_on_them(tablet, world):
    sign_in_tablet(tablet, world.usernames["worker_a"])
    record_start(tablet, world.case_ids["a2"])
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#child-rules:has-text('Say whether the child was seen.')")
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#finish-form")
    tablet.click("button:has-text('Submit visit')")
    summary = tablet.locator(".govuk-error-summary")
    assert "Say whether the child was seen." in summary.inner_text()
    assert tablet.evaluate("document.activeElement.classList.contains('govuk-error-summary')")
    both_orientations(tablet, "visit-rules")
    summary.locator("a:has-text('Say whether the child was seen.')").click()
    tablet.wait_for_selector("#child-form .govuk-form-group--error")
    assert tablet.evaluate("document.activeElement.id") == "f-children-0-seen"
    tablet.check("#f-children-0-seen")
    tablet.wait_for_selector("#child-rules:has-text('Say whether the child was seen alone.')")
    rules = tablet.inner_text("#child-rules")
    assert "Record the child's views" in rules and "was seen." not in rules
    tablet.click("#child-rules a:has-text('Record the child')")
    assert tablet.evaluate("document.activeElement.id") == "f-children-0-voice-own_words"
    assert "/child/0" in tablet.url
    both_orientations(tablet, "visit-child-rules")
    assert tablet.errors == []


def test_a_file_the_service_refuses_is_shown_and_holds_back_the_submit(tablet, app, world):
    sign_in_tablet(tablet, world.usernames["worker_a"])
    record_start(tablet, world.case_ids["a2"])
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#child-form")
    tablet.check("#f-children-0-seen")
    tablet.check("#f-children-0-seen_alone")
    tablet.fill("#f-children-0-voice-own_words", "Fine.")
    fake = {"name": "bedroom.jpg", "mimeType": "image/jpeg", "buffer": b"not a picture at all"}
    tablet.set_input_files("#photo-input", fake)
    tablet.wait_for_selector("[data-files='photo'] img")
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#checklist:has-text('You can submit the visit')")
    tablet.click("button:has-text('Submit visit')")
    tablet.wait_for_selector("#local-visits:has-text('Not accepted')")
    with app.app_context():
        assert db.session.query(Visit).one().status == "draft"  # held back
    tablet.click("#local-visits a")
    tablet.goto(tablet.url + "/child/0")
    tablet.wait_for_selector("[data-files='photo'] .govuk-error-message")
    assert serious_violations(tablet) == []
    tablet.click("button:has-text('Remove photo 1')")
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#checklist:has-text('You can submit the visit')")
    tablet.click("button:has-text('Submit visit')")
    wait_until(tablet, lambda held: held["visits"] == 0 and held["files"] == 0)
    with app.app_context():
        assert db.session.query(Visit).one().status == "submitted"
        assert db.session.query(Attachment).count() == 0
