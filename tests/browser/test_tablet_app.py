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
from service.visits.models import Visit
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
