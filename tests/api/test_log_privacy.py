"""A database error while a care leaver's words are bound leaves none of them in the log.

SQLAlchemy writes a failed statement's parameters into its exception message, and the 500
handler logs that exception: without ``hide_parameters`` the words below would be in the log,
and the run-wide check in ``tests/api/conftest.py`` would fail.
"""

import re

import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.exc import IntegrityError

from service.extensions import db
from service.feedback.models import Feedback
from tests.factories import CONTACT_DETAIL, CONTACT_NAME, OWN_WORDS, URGENT_MESSAGE


def duplicate_row(feedback_id, words):
    """An INSERT that breaks on its primary key, with ``words`` bound beside it.

    The database's own message names only the key, on SQLite and PostgreSQL alike (a NOT NULL
    or CHECK failure on PostgreSQL would quote the whole row, parameters hidden or not).
    """
    return insert(Feedback).values(id=feedback_id, language="en", anything_else=words)


def existing_feedback(app):
    with app.app_context():
        row = Feedback(language="en")
        db.session.add(row)
        db.session.commit()
        return row.id


def send_form(client, **fields):
    page = client.get("/feedback").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    scales = {"life_satisfaction": "3", "worthwhile": "3", "happy_yesterday": "2"}
    return client.post(
        "/feedback", data={"csrf_token": token, "anxious_yesterday": "9", **scales, **fields}
    )


def test_a_failed_insert_of_a_care_leavers_words_is_logged_without_them(
    app, client, monkeypatch, api_log_recorder
):
    from service.feedback import pages

    taken = existing_feedback(app)

    def save_feedback(answers, language, invite):
        words = f"{answers['anything_else']} {answers['contact_detail']}"
        db.session.execute(duplicate_row(taken, words))

    monkeypatch.setattr(pages.operations, "save_feedback", save_feedback)
    before = len(api_log_recorder.lines)
    response = send_form(
        client,
        anything_else=URGENT_MESSAGE,
        wants_contact="y",
        contact_name=CONTACT_NAME,
        contact_detail=CONTACT_DETAIL,
    )
    assert response.status_code == 500
    logged = "\n".join(api_log_recorder.lines[before:])
    assert "correlation_id=" in logged and "IntegrityError" in logged  # the recorder saw it
    assert "[SQL parameters hidden due to hide_parameters=True]" in logged
    assert URGENT_MESSAGE not in logged and CONTACT_DETAIL not in logged


def test_without_hide_parameters_the_words_would_be_in_the_logged_message(app):
    """The control: the same failure through an engine that shows parameters carries them."""
    taken = existing_feedback(app)
    with app.app_context():
        shows_parameters = create_engine(db.engine.url.render_as_string(hide_password=False))
        try:
            for engine, hidden in ((db.engine, True), (shows_parameters, False)):
                with engine.connect() as connection, pytest.raises(IntegrityError) as failure:
                    connection.execute(duplicate_row(taken, OWN_WORDS))
                assert (OWN_WORDS in str(failure.value)) is not hidden
        finally:
            shows_parameters.dispose()
