"""The admin's user pages: only admins, CSRF, creating an account that can sign in, the password
rule on the page, disabling (every token and desk session ends), no disabling oneself, the last
admin, resetting a password, changing role and teams, and an audit event for each change.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from service.audit.models import AuditEvent
from service.auth.models import AuthSession, User
from service.extensions import db
from tests.desk import csrf_token, desk_post, desk_sign_in
from tests.factories import PASSWORD, make_user

NEW_PASSWORD = "plum tree by the canal"


def _user(app, username):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        if user is not None:
            db.session.expunge(user)
        return user


def _events(app, action):
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _identity_provider_account(app, role="manager"):
    """An account that signs in only through the council's identity provider."""
    with app.app_context():
        user = make_user(role, username="idp.person")
        user.password_hash = None
        db.session.commit()
        return user.id


def _admin(app, client, world):
    desk_sign_in(client, world.usernames["admin"])
    return client


def _admin_pages(world):
    target = world.user_ids["worker_a"]
    return [
        "/desk/admin/users",
        "/desk/admin/users/new",
        f"/desk/admin/users/{target}",
        f"/desk/admin/users/{target}/role",
        f"/desk/admin/users/{target}/password",
        f"/desk/admin/users/{target}/disable",
        "/desk/admin/devices",
        f"/desk/admin/devices/{uuid.uuid4()}/revoke",
        "/desk/admin/outbox",
        "/desk/admin/outbox/1",
    ]


@pytest.mark.parametrize("role", ["supervisor_a", "manager", "worker_a"])
def test_other_roles_get_the_403_page_on_every_admin_page(app, client, world, role):
    desk_sign_in(client, world.usernames[role])
    for path in _admin_pages(world):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "You cannot see this page" in response.get_data(as_text=True)
    target = world.user_ids["worker_a"]
    for path in (f"/desk/admin/users/{target}/enable", "/desk/admin/outbox/1/retry"):
        assert desk_post(client, path, {}, "/desk/").status_code == 403
    assert _events(app, "denied"), "refusals are audited as the API's are"
    home = client.get("/desk/").get_data(as_text=True)
    assert "/desk/admin/users" not in home and "/desk/admin/outbox" not in home


def test_admin_pages_need_signing_in(client, world):
    for path in _admin_pages(world):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/desk/sign-in?next=")


def test_the_admin_start_page_lists_users_devices_and_deliveries(app, client, world):
    home = _admin(app, client, world).get("/desk/").get_data(as_text=True)
    for path in ("/desk/admin/users", "/desk/admin/devices", "/desk/admin/outbox"):
        assert path in home


def test_the_user_list_says_role_teams_status_and_sign_in(app, client, world):
    _identity_provider_account(app)
    body = _admin(app, client, world).get("/desk/admin/users").get_data(as_text=True)
    assert world.usernames["supervisor_a"] in body and "Team-A" in body
    assert "Identity provider" in body and "Password" in body
    assert "Active" in body


def test_a_form_without_its_csrf_token_is_refused(app, client, world):
    _admin(app, client, world)
    form = {"username": "new.worker", "role": "social_worker", "password": NEW_PASSWORD}
    response = client.post("/desk/admin/users/new", data=form)
    assert response.status_code == 400
    assert "The form could not be used" in response.get_data(as_text=True)
    target = world.user_ids["worker_a"]
    assert client.post(f"/desk/admin/users/{target}/disable").status_code == 400
    assert _user(app, "new.worker") is None
    assert _user(app, world.usernames["worker_a"]).active


def test_an_admin_creates_an_account_that_can_sign_in(app, client, world):
    _admin(app, client, world)
    response = desk_post(
        client,
        "/desk/admin/users/new",
        {
            "username": "new.supervisor",
            "display_name": "Nia Supervisor",
            "role": "supervisor",
            "teams": ["team-a", "team-b"],
            "password": NEW_PASSWORD,
        },
        "/desk/admin/users/new",
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Nia Supervisor (new.supervisor) can now sign in." in page
    created = _user(app, "new.supervisor")
    assert created.role == "supervisor" and created.display_name == "Nia Supervisor"
    [event] = _events(app, "user_create")
    assert event.record_type == "user" and event.record_id == str(created.id)
    assert event.details == {"role": "supervisor", "teams": ["team-a", "team-b"]}
    assert NEW_PASSWORD not in str(event.details) and event.actor_role == "admin"
    other = app.test_client()
    desk_sign_in(other, "new.supervisor", NEW_PASSWORD)
    assert "Nia Supervisor" in other.get("/desk/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"password": "short"}, "Use at least 12 characters"),
        ({"password": "i am new.worker now"}, "Do not include the username"),
        ({"password": "qwertyuiop12"}, "It is one of the most common passwords"),
        ({"password": "x" * 201}, "Use at most 200 characters"),
        ({"role": "superuser"}, "Choose one of: social_worker"),
        ({"role": ""}, "Choose one of"),
        ({"teams": ["nowhere"]}, "No such team: nowhere"),
        ({"username": ""}, "Enter a username"),
        ({"username": "two words"}, "letters a to z, digits, and . _ - @"),
    ],
)
def test_the_rules_are_shown_on_the_form_and_nothing_is_saved(app, client, world, fields, shown):
    _admin(app, client, world)
    form = {"username": "new.worker", "role": "social_worker", "password": NEW_PASSWORD, **fields}
    response = desk_post(client, "/desk/admin/users/new", form, "/desk/admin/users/new")
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "govuk-error-summary" in body and shown in body
    assert body.count('value="new.worker"') <= 1 and NEW_PASSWORD not in body
    assert _user(app, "new.worker") is None
    assert _events(app, "user_create") == []


def test_a_taken_username_is_refused(app, client, world):
    _admin(app, client, world)
    form = {"username": world.usernames["worker_a"], "role": "admin", "password": NEW_PASSWORD}
    response = desk_post(client, "/desk/admin/users/new", form, "/desk/admin/users/new")
    assert response.status_code == 400
    assert "already exists" in response.get_data(as_text=True)


def test_disabling_ends_every_token_and_desk_session_at_once(app, client, world, sign_in):
    tablet = sign_in(world.usernames["worker_a"], device_id="tablet-1")
    assert tablet.get("/me").status_code == 200
    desk = app.test_client()
    desk_sign_in(desk, world.usernames["worker_a"])
    assert desk.get("/desk/").status_code == 200
    admin = app.test_client()
    desk_sign_in(admin, world.usernames["admin"])
    target = world.user_ids["worker_a"]
    confirm = admin.get(f"/desk/admin/users/{target}/disable").get_data(as_text=True)
    assert "signed out of the desk and of every tablet" in confirm
    response = desk_post(
        admin, f"/desk/admin/users/{target}/disable", {}, f"/desk/admin/users/{target}/disable"
    )
    assert response.status_code == 302
    assert tablet.get("/me").status_code == 401
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": tablet.refresh_token})
    assert refresh.status_code == 401
    ended = desk.get("/desk/")
    assert ended.status_code == 302 and "ended=revoked" in ended.headers["Location"]
    assert (
        client.post(
            "/api/v1/auth/token",
            json={"username": world.usernames["worker_a"], "password": PASSWORD},
        ).status_code
        == 401
    )
    with app.app_context():
        sessions = db.session.scalars(
            select(AuthSession).where(AuthSession.user_id == uuid.UUID(target))
        ).all()
        assert {s.revoked_reason for s in sessions} == {"user_disabled"}
    [event] = _events(app, "user_disable")
    assert event.record_id == target and event.details == {"sessions_ended": 2}

    enabled = desk_post(admin, f"/desk/admin/users/{target}/enable", {}, "/desk/")
    assert enabled.status_code == 302
    assert _user(app, world.usernames["worker_a"]).active
    assert sign_in(world.usernames["worker_a"]).get("/me").status_code == 200
    assert len(_events(app, "user_enable")) == 1


def test_an_admin_cannot_disable_themselves(app, client, world):
    _admin(app, client, world)
    me = world.user_ids["admin"]
    assert "Disable this account" not in client.get(f"/desk/admin/users/{me}").get_data(
        as_text=True
    )
    response = desk_post(client, f"/desk/admin/users/{me}/disable", {}, "/desk/")
    assert response.status_code == 409
    assert "You cannot disable your own account" in response.get_data(as_text=True)
    assert _user(app, world.usernames["admin"]).active
    assert client.get("/desk/").status_code == 200
    assert _events(app, "user_disable") == []


def test_the_last_active_admin_keeps_the_role(app, client, world):
    _admin(app, client, world)
    me = world.user_ids["admin"]
    demote = {"role": "manager", "teams": []}
    response = desk_post(client, f"/desk/admin/users/{me}/role", demote, "/desk/")
    assert response.status_code == 409
    assert "last active admin" in response.get_data(as_text=True)
    assert _user(app, world.usernames["admin"]).role == "admin"
    with app.app_context():
        other = make_user("admin", username="second.admin")
        db.session.commit()
        other_id = other.id
    demoted = desk_post(client, f"/desk/admin/users/{me}/role", demote, "/desk/")
    assert (demoted.status_code, demoted.headers["Location"]) == (302, "/desk/")
    assert _user(app, world.usernames["admin"]).role == "manager"
    # No longer an admin: the admin pages are closed to them at once.
    assert client.get("/desk/admin/users").status_code == 403
    desk_sign_in(client, "second.admin")
    last = desk_post(client, f"/desk/admin/users/{other_id}/disable", {}, "/desk/")
    assert last.status_code == 409


def test_a_password_reset_sets_a_new_password_and_ends_every_session(app, client, world, sign_in):
    tablet = sign_in(world.usernames["supervisor_a"], device_id="tablet-2")
    admin = _admin(app, app.test_client(), world)
    target = world.user_ids["supervisor_a"]
    page = f"/desk/admin/users/{target}/password"
    weak = desk_post(admin, page, {"password": "short"}, page)
    assert weak.status_code == 400 and "Use at least 12 characters" in weak.get_data(as_text=True)
    assert tablet.get("/me").status_code == 200
    response = desk_post(admin, page, {"password": NEW_PASSWORD}, page)
    assert response.status_code == 302
    assert tablet.get("/me").status_code == 401
    old = {"username": world.usernames["supervisor_a"], "password": PASSWORD}
    assert client.post("/api/v1/auth/token", json=old).status_code == 401
    desk_sign_in(app.test_client(), world.usernames["supervisor_a"], NEW_PASSWORD)
    [event] = _events(app, "password_reset")
    assert event.record_id == target and NEW_PASSWORD not in str(event.details)


def test_an_identity_provider_account_has_no_password_to_reset(app, client, world):
    idp_id = _identity_provider_account(app, "supervisor")
    _admin(app, client, world)
    page = f"/desk/admin/users/{idp_id}/password"
    assert "has no password here" in client.get(page).get_data(as_text=True)
    assert desk_post(client, page, {"password": NEW_PASSWORD}, "/desk/").status_code == 409
    assert _user(app, "idp.person").password_hash is None


def test_changing_role_and_teams_is_saved_and_audited(app, client, world):
    _admin(app, client, world)
    target = world.user_ids["supervisor_a"]
    page = f"/desk/admin/users/{target}/role"
    form = client.get(page).get_data(as_text=True)
    assert 'value="supervisor" checked' in form and 'value="team-a" checked' in form
    response = desk_post(client, page, {"role": "manager", "teams": ["team-b"]}, page)
    assert response.status_code == 302
    changed = _user(app, world.usernames["supervisor_a"])
    assert changed.role == "manager"
    with app.app_context():
        assert [t.name for t in db.session.get(User, changed.id).teams] == ["team-b"]
    [event] = _events(app, "user_update")
    assert event.changed_fields == ["role", "teams"]
    assert event.details["before"] == {"role": "supervisor", "teams": ["team-a"]}
    assert event.details["after"] == {"role": "manager", "teams": ["team-b"]}
    # Saving the same again changes nothing and records nothing.
    desk_post(client, page, {"role": "manager", "teams": ["team-b"]}, page)
    assert len(_events(app, "user_update")) == 1


def test_unknown_accounts_are_the_404_page(app, client, world):
    _admin(app, client, world)
    missing = uuid.uuid4()
    for path in (f"/desk/admin/users/{missing}", f"/desk/admin/users/{missing}/role"):
        assert client.get(path).status_code == 404
    token = csrf_token(client, "/desk/")
    response = client.post(f"/desk/admin/users/{missing}/enable", data={"csrf_token": token})
    assert response.status_code == 404
