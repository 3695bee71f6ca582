"""What the tablet app's browser tests share: sizes, what the app holds, recording steps."""

from __future__ import annotations

import io
import time
from typing import Any

from PIL import Image

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


def sync_until_taken(tab, seconds: float = 40) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Ask the app to sync every few seconds until the service holds its visit, unchanged since.

    A sync already on its way when the last answer was saved sends what it had read; the app's
    background sync would send the rest within 30 s. A loaded CI machine can take seconds a round,
    so this waits by the clock, not by a count of polls.
    """
    deadline = time.monotonic() + seconds
    asked = 0.0
    while True:
        held = held_visit(tab)
        if held["base_version"] == 1 and not held["dirty"]:
            return held
        if time.monotonic() > deadline:
            raise AssertionError(f"the service never took the visit: the tablet holds {held}")
        if time.monotonic() - asked > 3:
            tab.click("#sync-now")
            asked = time.monotonic()
        tab.wait_for_timeout(250)


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


CACHES = "caches.keys()"


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


def changed_at_the_desk(  # type: ignore[no-untyped-def]
    worker, visit_id: str, observations: str, *, submit: bool = False
) -> int:
    """The same visit changed through the API elsewhere (and submitted); its new version."""
    current = worker.get(f"/visits/{visit_id}")
    body = {k: v for k, v in current.get_json().items() if k not in SERVER_ONLY}
    body["children"] = [
        {k: v for k, v in entry.items() if k != "child_name"} for entry in body["children"]
    ]
    body["observations"] = observations
    if submit:
        body["children"][0].update(seen_alone=True, voice={"own_words": "Said at the desk."})
    changed = worker.put(
        f"/visits/{visit_id}", json=body, headers={"If-Match": current.headers["ETag"]}
    )
    assert changed.status_code == 200, changed.get_json()
    if submit:
        changed = worker.post(f"/visits/{visit_id}/submit")
        assert changed.status_code == 200, changed.get_json()
    return changed.get_json()["version"]  # type: ignore[no-any-return]
