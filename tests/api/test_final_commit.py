"""The request's final commit expires its objects only where something could still read them.

A request that pushes its own app context (every request under gunicorn) has its own session,
removed at teardown, and its response is built before the commit: expiring its objects there is
work for nobody, so it is skipped. A test holding an app context shares its session with the
request and may read the objects afterwards, and a streamed body reads after the commit: both
keep the expiry. The session's setting is put back either way.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service.extensions import db
from service.pages import CookieSessions


@pytest.fixture
def commits() -> Iterator[list[bool]]:
    """``expire_on_commit`` as each commit from now on found it."""
    found: list[bool] = []

    def note(session: Session) -> None:
        found.append(session.expire_on_commit)

    event.listen(Session, "after_commit", note)
    yield found
    event.remove(Session, "after_commit", note)


def test_a_request_on_its_own_app_context_commits_without_expiring(
    worker: Any, commits: list[bool]
) -> None:
    assert worker.get("/cases").status_code == 200
    assert commits == [False]


def test_a_request_inside_a_held_app_context_still_expires_and_the_setting_is_kept(
    app: Flask, worker: Any, world: Any, commits: list[bool]
) -> None:
    with app.app_context():
        assert worker.get("/cases").status_code == 200
        assert commits == [True]
        assert db.session().expire_on_commit is True


def test_a_streamed_response_still_expires(sign_in: Any, world: Any, commits: list[bool]) -> None:
    admin = sign_in(world.usernames["admin"])
    commits.clear()  # the sign-in's own
    response = admin.get("/audit?format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    response.get_data()
    assert commits and all(commits)


def test_a_failed_commit_puts_the_setting_back(
    app: Flask, worker: Any, world: Any, commits: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings: list[bool] = []
    sessions: list[Session] = []

    def refuse(self: Session) -> None:
        settings.append(self.expire_on_commit)
        sessions.append(self)
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(Session, "commit", refuse)
    response = worker.get("/cases")
    monkeypatch.undo()
    assert response.status_code == 503
    assert settings == [False]
    assert sessions[0].expire_on_commit is True


def test_no_session_cookie_gives_an_empty_session_without_building_the_signer(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    interface = CookieSessions()
    built: list[bool] = []
    original = CookieSessions.get_signing_serializer

    def counting(self: CookieSessions, application: Flask) -> Any:
        built.append(True)
        return original(self, application)

    monkeypatch.setattr(CookieSessions, "get_signing_serializer", counting)
    with app.test_request_context("/api/v1/cases"):
        session = interface.open_session(app, request)
    assert session is not None and dict(session) == {} and built == []
    # With a cookie, Flask's own: a signed value round-trips, a forged one is an empty session.
    signed = original(interface, app).dumps({"user": "x"})
    name = app.config["SESSION_COOKIE_NAME"]
    with app.test_request_context("/desk", headers={"Cookie": f"{name}={signed}"}):
        assert dict(interface.open_session(app, request) or {}) == {"user": "x"}
    with app.test_request_context("/desk", headers={"Cookie": f"{name}=forged.value.sig"}):
        assert dict(interface.open_session(app, request) or {}) == {}
    assert app.session_interface.__class__ is CookieSessions
