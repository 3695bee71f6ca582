"""Signing in to the desk pages: the session cookie, CSRF, sign-out, idle time-out, revocation,
the security headers, and error pages in the desk's design.
"""

from __future__ import annotations

import time

from service.auth.models import AuthSession, User
from service.auth.web_sessions import LAST_SEEN_KEY
from service.extensions import db
from tests.desk import csrf_token, desk_post, desk_sign_in
from tests.factories import PASSWORD


def test_pages_need_signing_in_and_come_back_after(client, world):
    response = client.get("/desk/?tab=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/desk/sign-in?next=/desk/?tab%3D1"
    token = csrf_token(client, response.headers["Location"])
    signed = client.post(
        "/desk/sign-in",
        data={
            "username": world.usernames["supervisor_a"],
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/desk/?tab=1",
        },
    )
    assert signed.status_code == 302
    assert signed.headers["Location"] == "/desk/?tab=1"


def test_sign_in_goes_to_the_start_page_by_default(client, world):
    response = desk_sign_in(client, world.usernames["supervisor_a"])
    assert response.headers["Location"] == "/desk/"
    home = client.get("/desk/")
    assert home.status_code == 200
    assert "Signed in as" in home.get_data(as_text=True)


def test_wrong_password_is_one_message_and_nothing_else(client, world):
    token = csrf_token(client)
    for username in (world.usernames["supervisor_a"], "nobody-at-all"):
        response = client.post(
            "/desk/sign-in", data={"username": username, "password": "wrong", "csrf_token": token}
        )
        body = response.get_data(as_text=True)
        assert response.status_code == 400
        assert "Enter a correct username and password" in body
        assert "govuk-error-summary" in body
    assert client.get("/desk/").status_code == 302


def test_a_form_without_its_csrf_token_is_refused(client, world):
    response = client.post(
        "/desk/sign-in", data={"username": world.usernames["supervisor_a"], "password": "x"}
    )
    assert response.status_code == 400
    assert "The form could not be used" in response.get_data(as_text=True)
    desk_sign_in(client, world.usernames["supervisor_a"])
    # Signing out without the token does not sign out.
    assert client.post("/desk/sign-out").status_code == 400
    assert client.get("/desk/").status_code == 200


def test_next_never_leaves_the_desk(client, world):
    for target in (
        "https://evil.example/",
        "//evil.example/desk/",
        "/api/v1/cases",
        "/desk\\x",
        "/desk/../../evil",
        "/desk/%2e%2e/%2e%2e//evil.com",
        "/desk/%252e%252e/api/v1/cases",
        "/desk//evil.example",
        "/desk/./%2F%2Fevil.example",
        "/desk/%0d%0aSet-Cookie:x=1",
    ):
        token = csrf_token(client)
        response = client.post(
            "/desk/sign-in",
            data={
                "username": world.usernames["manager"],
                "password": PASSWORD,
                "csrf_token": token,
                "next": target,
            },
        )
        assert response.status_code == 302, target
        assert response.headers["Location"] == "/desk/", target
        client.post("/desk/sign-out", data={"csrf_token": csrf_token(client, "/desk/")})


def test_next_may_be_any_desk_page_with_its_query(client, world):
    token = csrf_token(client)
    response = client.post(
        "/desk/sign-in",
        data={
            "username": world.usernames["manager"],
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/desk/audit?record_id=a//b&since=2026-01-01",
        },
    )
    assert response.headers["Location"] == "/desk/audit?record_id=a//b&since=2026-01-01"


def test_sign_out_ends_the_session_on_the_server(app, client, world):
    desk_sign_in(client, world.usernames["supervisor_a"])
    cookie = client.get_cookie("seen_heard_desk")
    assert cookie is not None
    response = desk_post(client, "/desk/sign-out", {}, "/desk/")
    assert response.status_code == 302
    assert client.get("/desk/").status_code == 302
    # The old cookie, replayed, is worthless: the session it names was revoked.
    client.set_cookie("seen_heard_desk", cookie.value)
    assert client.get("/desk/").status_code == 302
    with app.app_context():
        ended = db.session.query(AuthSession).filter_by(revoked_reason="signed_out").count()
    assert ended == 1


def test_a_disabled_account_is_signed_out_at_once(app, client, world):
    desk_sign_in(client, world.usernames["supervisor_a"])
    with app.app_context():
        user = db.session.query(User).filter_by(username=world.usernames["supervisor_a"]).one()
        user.active = False
        db.session.commit()
    response = client.get("/desk/")
    assert response.status_code == 302
    assert "ended=revoked" in response.headers["Location"]


def test_an_idle_session_times_out(app, client, world):
    desk_sign_in(client, world.usernames["supervisor_a"])
    idle = app.config["PAGES_IDLE_MINUTES"] * 60
    with client.session_transaction() as session:
        session[LAST_SEEN_KEY] = int(time.time()) - idle - 5
    response = client.get("/desk/")
    assert response.status_code == 302
    assert "ended=timed_out" in response.headers["Location"]
    page = client.get(response.headers["Location"])
    assert "had not done anything for a while" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(AuthSession).filter_by(revoked_reason="idle_timeout").count() == 1


def test_the_cookie_is_httponly_and_same_site(client, world):
    response = desk_sign_in(client, world.usernames["supervisor_a"])
    cookie = next(
        value for value in response.headers.getlist("Set-Cookie") if "seen_heard_desk" in value
    )
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_pages_send_the_security_headers_and_are_never_cached(client, world):
    desk_sign_in(client, world.usernames["supervisor_a"])
    for path in ("/desk/", "/desk/sign-in", "/desk/no-such-page"):
        response = client.get(path)
        assert response.headers["Cache-Control"] == "no-store", path
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_errors_under_desk_are_pages_not_problem_json(client, world):
    desk_sign_in(client, world.usernames["supervisor_a"])
    response = client.get("/desk/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Page not found" in response.get_data(as_text=True)


def test_sign_in_shares_the_api_rate_limit(app, world):
    from service import create_app

    limited = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "EVIDENCE_STORE": app.config["EVIDENCE_STORE"],
            "S3_ENDPOINT_URL": app.config["S3_ENDPOINT_URL"],
            "S3_ADDRESSING_STYLE": app.config["S3_ADDRESSING_STYLE"],
            "LOGIN_RATE_LIMIT": "3 per minute",
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST_KIB": 1024,
        }
    )
    client = limited.test_client()
    token = csrf_token(client)
    wrong = {"username": "someone", "password": "wrong"}
    for _ in range(2):
        assert client.post("/api/v1/auth/token", json=wrong).status_code == 401
    assert client.post("/desk/sign-in", data={**wrong, "csrf_token": token}).status_code == 400
    blocked = client.post("/desk/sign-in", data={**wrong, "csrf_token": token})
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.get_data(as_text=True)
    assert client.post("/api/v1/auth/token", json=wrong).status_code == 429


def test_the_root_leads_to_the_desk(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/desk/"
