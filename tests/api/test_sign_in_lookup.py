"""Sign-in finds the account as uniqueness and the throttle read a username, and takes an attempt
only from a sign-in it could check (README "Sign-in limits").

A username typed in other capitals or with spaces around it is the account it names: the right
password signs in (API and desk form), and a wrong one is recorded against that account. A sign-in
the database could not answer (503) takes no attempt, so a blip with tablets retrying never locks
out the person who then types the right password.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError, OperationalError

from service.audit.models import AuditEvent
from service.extensions import db
from tests.desk import csrf_token
from tests.factories import PASSWORD, make_user

TOKEN = "/api/v1/auth/token"
WRONG = "Not-the-password-7"


@pytest.fixture
def account_limit(app) -> Iterator[None]:
    """Three failed attempts per account in 15 minutes (the tests' per-address limit is huge)."""
    saved = app.config["LOGIN_ACCOUNT_RATE_LIMIT"]
    app.config["LOGIN_ACCOUNT_RATE_LIMIT"] = "3 per 15 minutes"
    yield
    app.config["LOGIN_ACCOUNT_RATE_LIMIT"] = saved


def token_for(client, username: str, password: str = PASSWORD):
    return client.post(TOKEN, json={"username": username, "password": password})


def sign_in_events(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        found = list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )
        db.session.expunge_all()
        return found


@pytest.fixture
def accounts_down(app) -> Iterator[list[int]]:
    """While the list holds a number above 0, each lookup of an account by username fails as a
    database that went away does (and the number goes down by one).
    """
    failures_left = [0]

    def away(conn, cursor, statement, parameters, context, executemany):
        if "FROM users" in statement and "username" in statement and failures_left[0] > 0:
            failures_left[0] -= 1
            raise OperationalError(statement, parameters, Exception("server closed the connection"))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", away)
    yield failures_left
    event.remove(engine, "before_cursor_execute", away)


@pytest.mark.usefixtures("account_limit")
def test_sign_ins_the_database_could_not_answer_take_no_attempts(app, client, world, accounts_down):
    username = world.usernames["worker_a"]
    accounts_down[0] = 3  # as many as the account's budget
    replies = [token_for(client, username) for _ in range(3)]
    assert [reply.status_code for reply in replies] == [503, 503, 503]
    assert {reply.get_json()["code"] for reply in replies} == {"service.database_unavailable"}
    assert accounts_down[0] == 0
    assert token_for(client, username).status_code == 200
    assert sign_in_events(app, "sign_in_failed") == sign_in_events(app, "sign_in_locked") == []


@pytest.mark.usefixtures("account_limit")
def test_an_outage_between_failures_still_leaves_the_rest_of_the_budget(
    client, world, accounts_down
):
    username = world.usernames["worker_b"]
    assert token_for(client, username, WRONG).status_code == 401
    accounts_down[0] = 5
    assert {token_for(client, username).status_code for _ in range(5)} == {503}
    assert [token_for(client, username, WRONG).status_code for _ in range(2)] == [401, 401]
    assert token_for(client, username).get_json()["code"] == "auth.account_locked"


@pytest.mark.parametrize("typed", ("{}", "{upper}", " {upper} ", "{title}", "\t{}\n"))
def test_the_right_password_signs_in_however_the_username_is_capitalised(app, client, world, typed):
    username = world.usernames["supervisor_a"]
    typed = typed.format(username, upper=username.upper(), title=username.title())
    reply = token_for(client, typed)
    assert reply.status_code == 200, reply.get_json()
    me = client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {reply.get_json()['access_token']}"}
    )
    assert me.get_json()["username"] == username
    [signed_in] = sign_in_events(app, "sign_in")
    assert signed_in.record_id == world.user_ids["supervisor_a"]


def test_the_desk_form_finds_the_account_in_other_capitals(client, world):
    username = world.usernames["worker_a2"]
    page = client.post(
        "/desk/sign-in",
        data={
            "username": f" {username.upper()} ",
            "password": PASSWORD,
            "csrf_token": csrf_token(client),
        },
    )
    assert page.status_code == 302, page.get_data(as_text=True)[:500]


@pytest.mark.usefixtures("account_limit")
def test_failures_in_other_capitals_are_recorded_against_the_account(app, client, world):
    username = world.usernames["worker_b"]
    for typed in (username.upper(), f" {username.title()}", username.upper()):
        assert token_for(client, typed, WRONG).status_code == 401
    locked = token_for(client, f"{username.upper()} ")
    assert locked.get_json()["code"] == "auth.account_locked"
    failed = sign_in_events(app, "sign_in_failed")
    assert [event.details["reason"] for event in failed] == ["wrong_password"] * 3
    assert {event.record_id for event in failed} == {world.user_ids["worker_b"]}
    [lock] = sign_in_events(app, "sign_in_locked")
    assert lock.record_id == world.user_ids["worker_b"]


def test_the_database_refuses_a_second_account_in_other_capitals(app):
    """The unique index on ``lower(username)`` (migration 0016), not only ``create_user``'s
    check: accounts that differ only by case, which sign-in could not tell apart, cannot be made.
    """
    with app.app_context():
        make_user(username="Case.Twin")
        db.session.commit()
        with pytest.raises(IntegrityError):
            make_user(username="case.twin")
        db.session.rollback()
