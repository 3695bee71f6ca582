"""Care leavers first: "I need help now" with a message is kept whatever else is blank, and every
page on the way, error pages included, shows who to contact, in English and Welsh.
"""

import re
import uuid

import pytest
from itsdangerous import URLSafeSerializer
from werkzeug.exceptions import BadRequest

from service import create_app
from service.extensions import db
from service.feedback.models import Feedback
from tests.factories import CONTACT_DETAIL, CONTACT_NAME, URGENT_MESSAGE

# What the help contacts say, in each language: the numbers themselves, not a link to them.
CONTACTS = {
    "en": ("call 999", "0800 1111", "116 123", "text SHOUT to 85258", "0300 123 4567"),
    "cy": ("ffoniwch 999", "0800 1111", "116 123", "tecstiwch SHOUT i 85258", "0300 123 4567"),
}


def shows_contacts(html, lang="en"):
    main = html.split('<main class="govuk-main-wrapper"', 1)[1].split("</main>", 1)[0]
    return all(contact in main for contact in CONTACTS[lang])


def csrf(client, path="/feedback"):
    page = client.get(path)
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def post(client, path="/feedback", **fields):
    return client.post(path, data={"csrf_token": csrf(client, path), **fields})


def stored(app):
    with app.app_context():
        rows = db.session.query(Feedback).all()
        db.session.expunge_all()
        return rows


def test_an_urgent_message_alone_is_kept_and_the_help_page_follows(app, client):
    response = post(client, urgent="y", anything_else=URGENT_MESSAGE)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/feedback/help?lang=en&sent=1")
    help_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "marked your answers as urgent" in help_page and shows_contacts(help_page)
    (row,) = stored(app)
    assert (row.urgent, row.anything_else) == (True, URGENT_MESSAGE)
    assert row.life_satisfaction is None and row.settled is None and row.contact_name is None


def test_an_urgent_call_back_is_kept_with_or_without_the_box_ticked(app, client):
    ticked = post(
        client,
        urgent="y",
        anything_else=URGENT_MESSAGE,
        wants_contact="y",
        contact_name=CONTACT_NAME,
        contact_detail=CONTACT_DETAIL,
    )
    # A phone number alone, box not ticked, no name: still kept, it is how to reach them.
    number_only = post(client, "/feedback?lang=cy", urgent="y", contact_detail=CONTACT_DETAIL)
    assert ticked.status_code == number_only.status_code == 302
    assert number_only.headers["Location"].endswith("lang=cy&sent=1")
    first, second = sorted(stored(app), key=lambda row: row.contact_name is None)
    assert (first.contact_name, first.contact_detail, first.wants_contact) == (
        CONTACT_NAME,
        CONTACT_DETAIL,
        True,
    )
    assert (second.contact_name, second.contact_detail, second.language) == (
        None,
        CONTACT_DETAIL,
        "cy",
    )


def test_urgent_or_not_a_nul_is_still_refused_with_the_contacts_on_the_page(app, client):
    response = post(client, urgent="y", anything_else="Help\x00")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "govuk-error-summary" in html and shows_contacts(html)
    assert stored(app) == []


def test_without_urgent_the_scales_are_still_asked_for(app, client):
    response = post(client, anything_else="Things are fine.")
    assert response.status_code == 400 and "Choose a number from 0 to 10" in response.get_data(
        as_text=True
    )
    assert stored(app) == []


@pytest.mark.parametrize("lang", ["en", "cy"])
def test_the_form_thanks_help_and_link_pages_show_the_contacts(client, lang):
    for path in ("/feedback", "/feedback/thanks", "/feedback/help", "/feedback?invite=forged"):
        separator = "&" if "?" in path else "?"
        html = client.get(f"{path}{separator}lang={lang}").get_data(as_text=True)
        assert shows_contacts(html, lang), path


@pytest.mark.parametrize("lang", ["en", "cy"])
def test_the_error_pages_show_the_contacts(app, client, monkeypatch, lang):
    not_found = client.get(f"/feedback/nowhere?lang={lang}")
    assert not_found.status_code == 404 and shows_contacts(not_found.get_data(as_text=True), lang)

    from service.feedback import pages

    def refuse(*args, **kwargs):
        raise BadRequest()

    monkeypatch.setattr(pages, "check", refuse)
    bad = post(client, f"/feedback?lang={lang}", urgent="y")
    assert bad.status_code == 400 and shows_contacts(bad.get_data(as_text=True), lang)
    monkeypatch.undo()

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(pages.operations, "save_feedback", explode)
    broken = post(client, f"/feedback?lang={lang}", urgent="y", anything_else=URGENT_MESSAGE)
    html = broken.get_data(as_text=True)
    assert broken.status_code == 500 and shows_contacts(html, lang)
    assert ("not been saved" if lang == "en" else "Nid yw eich atebion") in html
    monkeypatch.undo()

    app.config["FEEDBACK_RATE_LIMIT"] = "1 per minute"
    try:
        env = {"REMOTE_ADDR": f"127.0.0.{90 + len(lang)}"}
        client.post(f"/feedback?lang={lang}", data={}, environ_base=env)
        limited = client.post(f"/feedback?lang={lang}", data={}, environ_base=env)
    finally:
        app.config["FEEDBACK_RATE_LIMIT"] = "10000 per minute"
    assert limited.status_code == 429 and shows_contacts(limited.get_data(as_text=True), lang)


@pytest.fixture
def database_down(tmp_path):
    """An app whose database is a closed port on loopback: every query fails to connect."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:9/nowhere",
            "EVIDENCE_STORE": f"file://{tmp_path}",
            "FEEDBACK_RATE_LIMIT": "10000 per minute",
        }
    )
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("lang", ["en", "cy"])
def test_with_the_database_down_the_503_page_shows_the_contacts(database_down, lang):
    client = database_down.test_client()
    response = post(client, f"/feedback?lang={lang}", urgent="y", anything_else=URGENT_MESSAGE)
    html = response.get_data(as_text=True)
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.mimetype == "text/html" and f'<html lang="{lang}"' in html
    assert shows_contacts(html, lang)
    assert ("not been saved" if lang == "en" else "Nid yw eich atebion") in html
    # An invite link needs the database too: the page says so, with the contacts.
    token = URLSafeSerializer(database_down.config["SECRET_KEY"], salt="feedback-invite").dumps(
        {"invite": str(uuid.uuid4())}
    )
    linked = client.get(f"/feedback?invite={token}&lang={lang}")
    assert linked.status_code == 503 and shows_contacts(linked.get_data(as_text=True), lang)
