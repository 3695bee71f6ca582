"""Care-leaver feedback on the desk pages: managers only, urgent first, triage kept as a history
(through the page and through the API), contact details only on the item page and audited, and
the summary's small numbers shown as "fewer than 5".
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from service.audit.models import AuditEvent
from service.columns import utcnow
from service.extensions import db
from service.feedback import operations
from service.feedback.models import Feedback, FeedbackTriageNote
from tests.desk import desk_post, desk_sign_in
from tests.factories import CONTACT_DETAIL, CONTACT_NAME, URGENT_MESSAGE


def save(app, minutes_ago=0, **answers):
    """One response, as the care-leaver form stores it."""
    with app.app_context():
        feedback = operations.save_feedback(answers, "en", None)
        feedback.submitted_at = utcnow() - timedelta(minutes=minutes_ago)
        db.session.commit()
        return str(feedback.id)


def events(app, **where):
    with app.app_context():
        query = select(AuditEvent)
        for name, value in where.items():
            query = query.where(getattr(AuditEvent, name) == value)
        return list(db.session.scalars(query))


def test_only_managers_see_feedback_pages(app, client, world):
    item = save(app, anything_else="hello")
    for role in ("supervisor_a", "worker_a", "admin"):
        desk_sign_in(client, world.usernames[role])
        for path in ("/desk/feedback", f"/desk/feedback/{item}", "/desk/feedback/summary"):
            response = client.get(path)
            assert response.status_code == 403, (role, path)
            assert "You cannot see this page" in response.get_data(as_text=True)
        home = client.get("/desk/").get_data(as_text=True)
        assert "Care-leaver feedback" not in home
        desk_post(client, "/desk/sign-out", {}, "/desk/")
    desk_sign_in(client, world.usernames["manager"])
    assert "Care-leaver feedback" in client.get("/desk/").get_data(as_text=True)
    assert client.get("/desk/feedback").status_code == 200


def test_the_list_is_urgent_first_then_newest_and_filters(app, client, world):
    older = save(app, minutes_ago=30, anything_else="older one")
    urgent = save(app, minutes_ago=60, urgent=True, anything_else=URGENT_MESSAGE)
    newer = save(app, minutes_ago=5, anything_else="newer one")
    desk_sign_in(client, world.usernames["manager"])
    html = client.get("/desk/feedback").get_data(as_text=True)
    positions = [html.index(f"/desk/feedback/{item}") for item in (urgent, newer, older)]
    assert positions == sorted(positions)
    only_urgent = client.get("/desk/feedback?urgent=yes").get_data(as_text=True)
    assert urgent in only_urgent and newer not in only_urgent
    not_urgent = client.get("/desk/feedback?urgent=no").get_data(as_text=True)
    assert urgent not in not_urgent and newer in not_urgent
    bad = client.get("/desk/feedback?status=lost")
    assert bad.status_code == 400 and "Choose a status from the list" in bad.get_data(as_text=True)
    # The list is audited as the API's is: one LIST event per response shown.
    listed = events(app, action="list", record_type="feedback")
    assert {event.record_id for event in listed} >= {urgent, newer, older}


def test_contact_details_only_on_the_item_page_and_audited(app, client, world):
    item = save(app, wants_contact=True, contact_name=CONTACT_NAME, contact_detail=CONTACT_DETAIL)
    desk_sign_in(client, world.usernames["manager"])
    listed = client.get("/desk/feedback").get_data(as_text=True)
    assert CONTACT_NAME not in listed and CONTACT_DETAIL not in listed
    page = client.get(f"/desk/feedback/{item}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and CONTACT_NAME in html and CONTACT_DETAIL in html
    assert page.headers["Cache-Control"] == "no-store"
    shown = events(app, record_type="feedback_contact", record_id=item)
    assert [event.action for event in shown] == ["read"]
    assert events(app, record_type="feedback", record_id=item, action="read")


def test_an_unknown_response_is_the_404_page(client, world):
    desk_sign_in(client, world.usernames["manager"])
    response = client.get(f"/desk/feedback/{uuid.uuid4()}")
    assert response.status_code == 404 and "Page not found" in response.get_data(as_text=True)
    assert client.get("/desk/feedback/not-a-uuid").status_code == 404


def test_triage_keeps_every_note_in_the_history(app, client, world):
    item = save(app, urgent=True, anything_else=URGENT_MESSAGE)
    desk_sign_in(client, world.usernames["manager"])
    page = f"/desk/feedback/{item}"
    first = desk_post(
        client, f"{page}/triage", {"status": "contacted", "note": "Rang, no answer"}, page
    )
    assert first.status_code == 302 and first.headers["Location"] == page
    second = desk_post(
        client, f"{page}/triage", {"status": "closed", "note": "Spoke to them; safe now"}, page
    )
    assert second.status_code == 302
    html = client.get(page).get_data(as_text=True)
    assert "Triage saved: closed." in html
    assert html.index("Rang, no answer") < html.index("Spoke to them; safe now")
    with app.app_context():
        notes = db.session.scalars(
            select(FeedbackTriageNote.note).order_by(FeedbackTriageNote.at)
        ).all()
        row = db.session.get(Feedback, uuid.UUID(item))
        assert notes == ["Rang, no answer", "Spoke to them; safe now"]
        assert (row.triage_status, row.triage_note) == ("closed", "Spoke to them; safe now")
    triaged = events(app, action="triage", record_id=item)
    assert len(triaged) == 2 and triaged[0].changed_fields == ["note", "status"]


def test_triage_form_errors_and_csrf(app, client, world):
    item = save(app)
    desk_sign_in(client, world.usernames["manager"])
    page = f"/desk/feedback/{item}"
    refused = client.post(f"{page}/triage", data={"status": "closed", "note": "x"})
    assert refused.status_code == 400
    assert "The form could not be used" in refused.get_data(as_text=True)
    wrong = desk_post(client, f"{page}/triage", {"status": "lost", "note": "kept"}, page)
    html = wrong.get_data(as_text=True)
    assert wrong.status_code == 400 and "Choose where this response is in triage" in html
    assert ">kept</textarea>" in html
    too_long = desk_post(client, f"{page}/triage", {"status": "closed", "note": "x" * 2001}, page)
    assert too_long.status_code == 400 and "2,000 characters or fewer" in too_long.get_data(
        as_text=True
    )
    nul = desk_post(client, f"{page}/triage", {"status": "closed", "note": "a\x00b"}, page)
    assert nul.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(FeedbackTriageNote)) == 0
        assert db.session.get(Feedback, uuid.UUID(item)).triage_status == "new"


def test_the_apis_triage_writes_the_same_history(app, client, world, sign_in):
    item = save(app)
    manager = sign_in(world.usernames["manager"])
    for status, note in (("contacted", "Left a voicemail"), ("contacted", None)):
        body = {"status": status} if note is None else {"status": status, "note": note}
        assert manager.patch(f"/feedback/{item}", json=body).status_code == 200
    assert manager.patch(f"/feedback/{item}", json={"status": "closed", "note": "Done"}).json[
        "triage_note"
    ] == ("Done")
    with app.app_context():
        steps = operations.triage_history(uuid.UUID(item))
        assert [(step.status, step.note) for step, _ in steps] == [
            ("contacted", "Left a voicemail"),
            ("contacted", None),
            ("closed", "Done"),
        ]
    desk_sign_in(client, world.usernames["manager"])
    html = client.get(f"/desk/feedback/{item}").get_data(as_text=True)
    assert "Left a voicemail" in html and "Done" in html and "No note" in html


def test_the_summary_says_fewer_than_five(app, client, world):
    for _ in range(4):
        save(app, life_satisfaction=7, settled="yes")
    desk_sign_in(client, world.usernames["manager"])
    month = utcnow().strftime("%Y-%m")
    html = client.get("/desk/feedback/summary").get_data(as_text=True)
    assert month in html and "Fewer than 5 responses: not shown" in html
    save(app, life_satisfaction=7, settled="yes")
    save(app, life_satisfaction=5, settled="no")
    html = client.get("/desk/feedback/summary?months=3").get_data(as_text=True)
    assert "6 responses" in html and "Fewer than 5 responses" not in html
    assert "6.7" in html  # (7 * 5 + 5) / 6, as the API's summary rounds it
    settled = html.split("Do you feel settled where you live?", 1)[1].split("</table>", 1)[0]
    assert ">5</td>" in settled  # five said yes
    assert "fewer than 5" in settled  # one said no: hidden
    assert events(app, record_type="feedback_summary")
