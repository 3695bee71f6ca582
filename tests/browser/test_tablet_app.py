"""The tablet app in Chromium with touch, at tablet sizes: a visit recorded offline for two
children (a drawing made with the pointer, a photo) and synced when back online; a dropped
connection resumed; audio; a refused file; the submit rules as the server states them; the
caseload worst first. Axe on every screen, screenshots in both orientations.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from service.evidence.models import Attachment
from service.extensions import db
from service.visits.models import Visit, VisitVersion
from service.visits.record import has_views
from tests.browser.conftest import serious_violations
from tests.browser.tablet_support import (
    LANDSCAPE,
    LOCAL_VISIT_IDS,
    both_orientations,
    draw,
    local_records,
    record_first_child,
    record_second_child,
    record_start,
    sign_in_tablet,
    visit_snapshot,
    wait_until,
)


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
    tablet.reload()  # autosaved: nothing typed is lost when the app is closed mid-visit
    tablet.wait_for_selector("[data-files='photo'] img")
    assert tablet.input_value("#f-children-0-voice-own_words").startswith("I like it when Nan")
    assert tablet.is_checked("#f-children-0-voice-scale-score-7")
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
            assert audio.content_type == "audio/mp4" and audio.size > 0
            assert visit.status == "submitted"
            assert visit.children[0].consent_to_share is True
    finally:
        context.close()


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
        # A record that contradicts itself (found trying the app: a hidden answer was kept).
        {**base, "children": [{**child, "seen": True, "seen_alone": True, "not_seen_reason": "other", "not_seen_detail": "x", "voice": {"worries": "Dogs"}}]},
        {**base, "children": [{**child, "seen": False, "seen_alone": True, "not_seen_reason": "no_access"}]},
        {**base, "children": [{**child, "seen": True, "seen_alone": True, "not_seen_alone_reason": "unable", "voice": {"own_words": "hi", "not_gathered_reason": "could not"}}]},
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


HELD_CHILD = """async () => {
  const db = await new Promise((ok) => { const r = indexedDB.open('seen-and-heard'); r.onsuccess = () => ok(r.result); });
  const all = await new Promise(ok => { const r = db.transaction('visits').objectStore('visits').getAll(); r.onsuccess = () => ok(r.result); });
  db.close();
  return all[0].body.children[0];
}"""


def held_child_once(tablet, condition):  # type: ignore[no-untyped-def]
    """The first child of the visit the app holds, once ``condition`` is true of it."""
    for _ in range(80):
        entry = tablet.evaluate(HELD_CHILD)
        if condition(entry):
            return entry
        tablet.wait_for_timeout(250)
    raise AssertionError(f"the tablet holds {entry}")


def test_answers_a_changed_answer_makes_meaningless_are_cleared(tablet, world):
    """'Seen' back to Yes clears why not; 'seen alone' back to Yes clears why not alone."""
    sign_in_tablet(tablet, world.usernames["worker_a"])
    record_start(tablet, world.case_ids["a2"])
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#child-form")
    tablet.check("#f-children-0-seen-1")  # not seen
    tablet.check("#f-children-0-not_seen_reason-4")  # another reason
    tablet.fill("#f-children-0-not_seen_detail", "Asleep upstairs.")
    held_child_once(tablet, lambda entry: entry["not_seen_detail"] == "Asleep upstairs.")
    tablet.check("#f-children-0-seen")  # seen after all
    tablet.check("#f-children-0-seen_alone-1")
    tablet.check("#f-children-0-not_seen_alone_reason")
    tablet.fill("#f-children-0-not_seen_alone_detail", "Would not leave Mum.")
    held_child_once(tablet, lambda entry: entry["not_seen_alone_detail"] == "Would not leave Mum.")
    assert held_child_once(tablet, lambda entry: entry["seen"] is True)["not_seen_reason"] is None
    tablet.check("#f-children-0-seen_alone")  # seen alone after all
    entry = held_child_once(tablet, lambda entry: entry["seen_alone"] is True)
    assert entry["not_seen_reason"] is None and entry["not_seen_detail"] is None
    assert entry["not_seen_alone_reason"] is None and entry["not_seen_alone_detail"] is None
    tablet.check("#f-children-0-seen-1")  # the cleared answers are not brought back either
    assert not tablet.is_checked("#f-children-0-not_seen_reason-4")
    assert tablet.input_value("#f-children-0-not_seen_detail") == ""
    # Not seen after all: 'seen alone' (a contradiction the rules refuse) goes too.
    assert held_child_once(tablet, lambda entry: entry["seen"] is False)["seen_alone"] is None
    assert not tablet.is_checked("#f-children-0-seen_alone")
    assert tablet.errors == []


def test_field_messages_follow_the_answers_after_a_refused_submit(tablet, world):
    sign_in_tablet(tablet, world.usernames["worker_a"])
    record_start(tablet, world.case_ids["a2"])
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#child-form")
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#finish-form")
    tablet.click("button:has-text('Submit visit')")
    tablet.locator(".govuk-error-summary a:has-text('Say whether the child was seen.')").click()
    tablet.wait_for_selector("#f-children-0-seen-error:has-text('Say whether the child was seen.')")
    tablet.check("#f-children-0-seen-1")  # not seen: now the reason is outstanding
    tablet.wait_for_selector(
        "#f-children-0-not_seen_reason-error:has-text('Give the reason the child was not seen.')"
    )
    assert tablet.locator("#f-children-0-seen-error").count() == 0
    assert "Say whether the child was seen." not in tablet.inner_text("#child-form")
    group = tablet.locator("#f-children-0-not_seen_reason").locator(
        "xpath=ancestor::div[contains(@class, 'govuk-form-group')][1]"
    )
    assert "govuk-form-group--error" in (group.get_attribute("class") or "")
    tablet.check("#f-children-0-not_seen_reason")
    tablet.wait_for_selector("#child-rules:has-text('Everything the service checks')")
    assert tablet.locator("#child-form .govuk-form-group--error").count() == 0
    assert serious_violations(tablet) == []
    assert tablet.errors == []


def test_free_text_is_held_to_what_the_service_takes(tablet, world):
    """Boxes stop where the service's schema does (20000, a detail 2000); NUL characters in pasted
    text are dropped before saving.
    """
    sign_in_tablet(tablet, world.usernames["worker_a"])
    record_start(tablet, world.case_ids["a2"])
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#child-form")
    boxes = tablet.eval_on_selector_all(
        "#child-form textarea",
        "boxes => Object.fromEntries(boxes.map(b => [b.name, b.getAttribute('maxlength')]))",
    )
    details = {key: boxes.pop(key) for key in list(boxes) if key.endswith("_detail")}
    assert boxes and set(boxes.values()) == {"20000"} and set(details.values()) == {"2000"}
    tablet.check("#f-children-0-seen")
    tablet.fill("#f-children-0-voice-own_words", "I like\u0000 school.")
    entry = held_child_once(tablet, lambda entry: (entry["voice"] or {}).get("own_words"))
    assert entry["voice"]["own_words"] == "I like school."
    assert tablet.input_value("#f-children-0-voice-own_words") == "I like school."


def test_why_views_were_not_gathered_is_a_rule_once_they_are_recorded(tablet, world):
    sign_in_tablet(tablet, world.usernames["worker_a"])
    record_start(tablet, world.case_ids["a2"])
    tablet.click("button:has-text('Continue')")
    tablet.wait_for_selector("#child-form")
    tablet.check("#f-children-0-seen")
    tablet.check("#f-children-0-seen_alone")
    tablet.fill("#f-children-0-voice-not_gathered_reason", "Too upset to talk.")
    tablet.wait_for_selector("#child-rules:has-text('Everything the service checks')")
    tablet.fill("#f-children-0-voice-own_words", "I want to go home.")
    tablet.wait_for_selector("#child-rules:has-text('Leave out why their views could not be')")
    tablet.click("#child-rules a:has-text('Leave out why their views')")
    assert tablet.evaluate("document.activeElement.id") == "f-children-0-voice-not_gathered_reason"
    tablet.fill("#f-children-0-voice-not_gathered_reason", "")
    tablet.wait_for_selector("#child-rules:has-text('Everything the service checks')")
