"""Care-leaver feedback: the form (CSRF, errors, honeypot, urgent, Welsh), invites, triage, summary."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from service.cases.models import Child
from service.extensions import db
from service.feedback.models import Feedback, FeedbackInvite

ANSWERS = {
    "life_satisfaction": "7",
    "worthwhile": "8",
    "happy_yesterday": "6",
    "anxious_yesterday": "3",
}


def csrf(client, path="/feedback"):
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def send(client, path="/feedback", **fields):
    return client.post(path, data={"csrf_token": csrf(client, path), **ANSWERS, **fields})


def stored(app):
    with app.app_context():
        rows = db.session.query(Feedback).all()
        db.session.expunge_all()
        return rows


def test_the_form_is_plain_english_and_anonymous_by_default(client):
    page = client.get("/feedback")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<html lang="en"' in html
    assert "You do not have to give your name" in html and "I need help now" in html
    assert (
        page.headers["X-Frame-Options"] == "DENY"
        and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    )
    assert page.headers["Cache-Control"] == "no-store"


def test_a_complete_form_is_stored_and_thanked(app, client):
    response = send(
        client, settled="mostly", trusted_person="yes", anything_else="My flat is cold."
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(
        "/feedback/thanks?lang=en"
    )
    (row,) = stored(app)
    assert (row.life_satisfaction, row.settled, row.anything_else, row.urgent) == (
        7,
        "mostly",
        "My flat is cold.",
        False,
    )
    assert row.child_id is None and row.contact_name is None


def test_errors_are_summarised_and_what_was_typed_is_kept(app, client):
    response = client.post(
        "/feedback",
        data={
            "csrf_token": csrf(client),
            "life_satisfaction": "7",
            "anything_else": "Keep me",
            "wants_contact": "y",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "govuk-error-summary" in html and "<title>Error:" in html
    for anchor in (
        "#worthwhile",
        "#happy_yesterday",
        "#anxious_yesterday",
        "#contact_name",
        "#contact_detail",
    ):
        assert f'href="{anchor}"' in html
    assert "Keep me</textarea>" in html and 'value="7" checked' in html
    assert stored(app) == []


def test_without_the_csrf_token_nothing_is_stored(app, client):
    response = client.post("/feedback", data=ANSWERS)
    assert response.status_code == 400 and "The form timed out" in response.get_data(as_text=True)
    assert stored(app) == []


def test_the_honeypot_keeps_nothing(app, client):
    response = send(client, website="http://spam.example")
    assert response.status_code == 302 and "thanks" in response.headers["Location"]
    assert stored(app) == []


def test_text_over_the_limit_is_refused(app, client):
    response = send(client, anything_else="x" * 2001)
    assert response.status_code == 400 and "2,000 characters or fewer" in response.get_data(
        as_text=True
    )


def test_i_need_help_now_shows_contacts_and_marks_it_urgent(app, client):
    response = send(client, urgent="y")
    assert response.headers["Location"].endswith("/feedback/help?lang=en&sent=1")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "call 999" in page and "Childline" in page and "marked your answers as urgent" in page
    assert stored(app)[0].urgent is True
    assert "call 999" in client.get("/feedback/help").get_data(
        as_text=True
    )  # reachable without sending


def test_welsh(client, app):
    html = client.get("/feedback?lang=cy").get_data(as_text=True)
    assert '<html lang="cy"' in html and "Dywedwch wrthym" in html and ">English</a>" in html
    response = send(client, "/feedback?lang=cy")
    assert response.headers["Location"].endswith("lang=cy")
    assert stored(app)[0].language == "cy"


def test_posting_is_rate_limited_with_a_page_not_json(app, client):
    app.config["FEEDBACK_RATE_LIMIT"] = "2 per minute"
    try:
        env = {"REMOTE_ADDR": "127.0.0.77"}
        codes = [
            client.post("/feedback", data=ANSWERS, environ_base=env).status_code for _ in range(3)
        ]
        limited = client.post("/feedback", data=ANSWERS, environ_base=env)
    finally:
        app.config["FEEDBACK_RATE_LIMIT"] = "10000 per minute"
    assert codes[:2] == [400, 400] and limited.status_code == 429
    assert limited.mimetype == "text/html" and "Too many tries" in limited.get_data(as_text=True)


# --- invites -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _care_leavers(request):
    """The children the invite tests use are care leavers (invites are for them only)."""
    if "world" not in request.fixturenames:
        return
    app, world = request.getfixturevalue("app"), request.getfixturevalue("world")
    with app.app_context():
        for case in ("a1", "b1"):
            child = db.session.get(Child, uuid.UUID(world.child_ids[case][0]))
            child.plan_type = "care_leaver"
        db.session.commit()


def test_invites_are_for_care_leavers_only(world, sign_in):
    worker = sign_in(world.usernames["worker_a"])
    refused = worker.post("/feedback/invites", json={"child_id": world.child_ids["a2"][0]})
    assert refused.status_code == 422 and refused.get_json()["code"] == "feedback.not_a_care_leaver"


def invite(session, child_id, **body):
    response = session.post("/feedback/invites", json={"child_id": child_id, **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def path_of(url):
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_an_invite_links_the_answers_to_the_care_leaver(app, client, world, sign_in):
    child_id = world.child_ids["a1"][0]
    created = invite(sign_in(world.usernames["worker_a"]), child_id)
    assert "/feedback?invite=" in created["url"]
    response = send(client, path_of(created["url"]))
    assert response.status_code == 302
    assert str(stored(app)[0].child_id) == child_id
    again = client.get(path_of(created["url"]))
    assert again.status_code == 400 and "already used this link" in again.get_data(as_text=True)


def test_invites_respect_scope(world, sign_in):
    other = sign_in(world.usernames["worker_b"])
    assert (
        other.post("/feedback/invites", json={"child_id": world.child_ids["a1"][0]}).status_code
        == 404
    )
    assert (
        sign_in(world.usernames["supervisor_a"])
        .post("/feedback/invites", json={"child_id": world.child_ids["a1"][0]})
        .status_code
        == 403
    )


def test_tampered_and_expired_links(app, client, world, sign_in):
    created = invite(sign_in(world.usernames["manager"]), world.child_ids["a1"][0])
    path = path_of(created["url"])
    tampered = client.get(path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb"))
    assert tampered.status_code == 400 and "This link does not work" in tampered.get_data(
        as_text=True
    )
    forged = client.get("/feedback?invite=" + "eyJpbnZpdGUiOiIxIn0.forged")
    assert forged.status_code == 400
    with app.app_context():
        row = db.session.get(FeedbackInvite, uuid.UUID(created["id"]))
        row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
        db.session.commit()
    expired = client.get(path)
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    assert send(client).status_code == 302  # the plain form still works


# --- managers ------------------------------------------------------------------------------


def test_triage_list_is_urgent_first(app, client, world, sign_in):
    send(client, anything_else="first")
    send(client, urgent="y")
    send(client, anything_else="last")
    manager = sign_in(world.usernames["manager"])
    rows = manager.get("/feedback").get_json()
    assert [row["urgent"] for row in rows] == [True, False, False]
    assert rows[1]["anything_else"] == "last"
    patched = manager.patch(
        f"/feedback/{rows[0]['id']}", json={"status": "contacted", "note": "Called back"}
    )
    assert patched.status_code == 200 and patched.get_json()["triage_status"] == "contacted"
    assert manager.get("/feedback?status=new").get_json()[0]["id"] != rows[0]["id"]
    assert manager.patch(f"/feedback/{rows[0]['id']}", json={"status": "lost"}).status_code == 422
    assert sign_in(world.usernames["worker_a"]).get("/feedback").status_code == 403


def test_summary_suppresses_small_numbers(app, client, world, sign_in):
    manager = sign_in(world.usernames["manager"])
    for _ in range(4):
        send(client, settled="yes")
    (month,) = manager.get("/feedback/summary").get_json()
    assert month["suppressed"] is True and month["responses"] is None and "averages" not in month
    send(client, settled="yes")
    (month,) = manager.get("/feedback/summary").get_json()
    assert month["suppressed"] is False and month["responses"] == 5
    assert month["averages"]["life_satisfaction"] == 7.0
    assert month["distributions"]["settled"] == {"yes": 5, "mostly": 0, "not_really": 0, "no": 0}
    send(client, settled="no")
    (month,) = manager.get("/feedback/summary").get_json()
    assert month["distributions"]["settled"]["no"] is None  # one person: hidden


def test_an_unexpected_error_on_a_page_is_logged_and_shown_as_a_page(
    app, client, monkeypatch, caplog
):
    from service.feedback import pages

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(pages.operations, "save_feedback", explode)
    with caplog.at_level("ERROR"):
        response = send(client)
    assert response.status_code == 500 and response.mimetype == "text/html"
    assert "problem with the service" in response.get_data(as_text=True)
    assert "boom" not in response.get_data(as_text=True)
    assert "correlation_id=" in caplog.text
    assert client.get("/feedbackx").mimetype == "application/problem+json"


# --- characters that cannot be stored ------------------------------------------------------

FORM_FIELDS = (
    "life_satisfaction",
    "settled",
    "anything_else",
    "contact_name",
    "contact_detail",
)


def test_a_nul_in_any_answer_is_a_form_error_not_a_server_error(app, client):
    for name in FORM_FIELDS:
        fields = {"wants_contact": "y", "contact_name": "Sam", "contact_detail": "sam@example.org"}
        response = send(client, **{**fields, name: "7\x00 and more"})
        html = response.get_data(as_text=True)
        assert response.status_code == 400, name
        assert "govuk-error-summary" in html and f'href="#{name}"' in html
        assert "it has a hidden character we cannot save" in html
    assert stored(app) == []


def test_the_character_error_is_in_welsh_on_the_welsh_form(app, client):
    response = send(client, "/feedback?lang=cy", anything_else="Helo\x00")
    assert response.status_code == 400
    assert "nod cudd na allwn ei gadw" in response.get_data(as_text=True)
    assert stored(app) == []
