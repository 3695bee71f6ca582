"""Signing in and out is in the audit trail (README "The audit trail": sign-ins).

One event per sign-in, refusal, lock, sign-out and refresh-token reuse, each about the account
(``record_type`` ``user``); refusals are written although their requests roll back; nothing
typed is recorded (no password, no unknown username); rotations and token checks add nothing;
the trail's endpoint finds them with its filters, and the chains still verify.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from service.audit.models import AuditEvent
from service.auth.models import Device
from service.auth.operations import disable_user
from service.auth.sign_in_audit import account_tag
from service.extensions import db
from tests.api.test_auth import past_the_grace, refresh, token_for
from tests.audit_support import anchor_all, findings
from tests.desk import csrf_token, desk_sign_in
from tests.factories import PASSWORD

WRONG = "Not-the-password-7"
UNKNOWN = "ghost-Of.Someone"


def events(app, action: str | None = None) -> list[AuditEvent]:
    """Every sign-in event (or those of ``action``), oldest first."""
    with app.app_context():
        query = select(AuditEvent).where(
            AuditEvent.action.in_(
                ["sign_in", "sign_in_failed", "sign_in_locked", "sign_out", "refresh_token_reuse"]
            )
        )
        if action:
            query = query.where(AuditEvent.action == action)
        found = list(db.session.scalars(query.order_by(AuditEvent.id)))
        db.session.expunge_all()
        return found


def event_count(app) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def as_text(event: AuditEvent) -> str:
    return json.dumps(
        {column.name: getattr(event, column.name) for column in AuditEvent.__table__.columns},
        default=str,
    )


@pytest.fixture
def account_limit(app) -> Iterator[None]:
    saved = app.config["LOGIN_ACCOUNT_RATE_LIMIT"]
    app.config["LOGIN_ACCOUNT_RATE_LIMIT"] = "2 per 15 minutes"
    yield
    app.config["LOGIN_ACCOUNT_RATE_LIMIT"] = saved


def test_a_sign_in_adds_one_event_naming_the_person_and_the_device(app, client, world):
    before = event_count(app)
    reply = token_for(client, world.usernames["worker_a"], device_id="tablet-9")
    assert reply.status_code == 200
    assert event_count(app) == before + 1
    [event] = events(app, "sign_in")
    with app.app_context():
        device = db.session.scalar(select(Device).where(Device.client_device_id == "tablet-9"))
        assert device is not None
        assert event.device_id == device.id
    assert str(event.actor_id) == world.user_ids["worker_a"] == event.record_id
    assert event.actor_role == "social_worker" and event.record_type == "user"
    assert event.details["via"] == "api" and event.details["session_id"]
    assert PASSWORD not in as_text(event)


def test_failures_are_recorded_though_the_request_rolls_back(app, client, world):
    assert token_for(client, world.usernames["worker_b"], WRONG).status_code == 401
    assert token_for(client, f" {UNKNOWN} ", WRONG).status_code == 401
    wrong, unknown = events(app, "sign_in_failed")
    assert wrong.record_id == world.user_ids["worker_b"] and wrong.actor_id is None
    assert wrong.details == {
        "via": "api",
        "reason": "wrong_password",
        "account_tag": wrong.details["account_tag"],
    }
    # An unknown username names nobody, and what was typed is not in the trail: only a short
    # keyed tag, the same however the name is typed, to tell repeated attempts apart.
    assert unknown.record_id is None and unknown.actor_id is None
    assert unknown.details["reason"] == "unknown_user"
    with app.test_request_context():
        assert unknown.details["account_tag"] == account_tag(UNKNOWN.upper())
    assert re.fullmatch(r"[0-9a-f]{8}", unknown.details["account_tag"])
    for event in (wrong, unknown):
        text = as_text(event).casefold()
        assert WRONG.casefold() not in text and UNKNOWN.casefold() not in text


def test_a_disabled_account_is_recorded_as_such(app, client, world):
    user_id = world.user_ids["worker_a2"]
    with app.app_context():
        disable_user(None, uuid.UUID(user_id))
        db.session.commit()
    assert token_for(client, world.usernames["worker_a2"]).status_code == 401
    [event] = events(app, "sign_in_failed")
    assert event.record_id == user_id and event.details["reason"] == "disabled"


@pytest.mark.usefixtures("account_limit")
def test_locked_attempts_are_recorded(app, client, world):
    username = world.usernames["supervisor_b"]
    statuses = [token_for(client, username, WRONG).status_code for _ in range(2)]
    statuses.append(token_for(client, username).status_code)  # even the right password waits
    assert statuses == [401, 401, 429]
    assert [event.action for event in events(app)] == ["sign_in_failed"] * 2 + ["sign_in_locked"]
    locked = events(app, "sign_in_locked")[0]
    assert locked.record_id == world.user_ids["supervisor_b"]
    assert locked.details["reason"] == "account_locked"


def test_rotation_is_not_recorded_but_reuse_and_sign_out_are(app, client, world):
    tokens = token_for(client, world.usernames["worker_a"], device_id="tablet-3").get_json()
    before = event_count(app)
    rotated = refresh(client, tokens["refresh_token"]).get_json()
    assert refresh(client, tokens["refresh_token"]).get_json() == rotated  # retried: same pair
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {rotated['access_token']}"})
    assert me.status_code == 200
    assert event_count(app) == before  # rotations and token checks add nothing
    past_the_grace(app, tokens["refresh_token"])
    assert refresh(client, tokens["refresh_token"]).status_code == 401
    [reuse] = events(app, "refresh_token_reuse")
    assert reuse.record_id == world.user_ids["worker_a"] and reuse.device_id is not None

    again = token_for(client, world.usernames["worker_a"], device_id="tablet-3").get_json()
    headers = {"Authorization": f"Bearer {again['access_token']}"}
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    [signed_out] = events(app, "sign_out")
    assert str(signed_out.actor_id) == world.user_ids["worker_a"]
    assert signed_out.details["via"] == "api" and signed_out.details["sessions_ended"] == 1
    assert signed_out.device_id == reuse.device_id


def test_the_desk_form_and_sign_out_are_recorded(app, world):
    desk = app.test_client()
    username = world.usernames["supervisor_a"]
    token = csrf_token(desk)
    page = desk.post(
        "/desk/sign-in", data={"username": username, "password": WRONG, "csrf_token": token}
    )
    assert page.status_code == 400
    desk_sign_in(desk, username)
    assert (
        desk.post("/desk/sign-out", data={"csrf_token": csrf_token(desk, "/desk/")}).status_code
        == 302
    )
    failed, signed_in, signed_out = events(app)
    assert (failed.action, failed.details["via"]) == ("sign_in_failed", "desk")
    assert (signed_in.action, signed_in.details["via"]) == ("sign_in", "desk")
    assert (signed_out.action, signed_out.details["via"]) == ("sign_out", "desk")
    assert signed_out.details["session_id"] == signed_in.details["session_id"]
    assert signed_in.device_id is None


def test_the_trail_shows_them_to_auditors_with_its_filters_and_still_verifies(
    app, client, world, sign_in
):
    assert token_for(client, world.usernames["worker_b"], WRONG).status_code == 401
    assert token_for(client, UNKNOWN, WRONG).status_code == 401
    manager = sign_in(world.usernames["manager"])
    failed = manager.get("/audit?action=sign_in_failed").get_json()
    assert len(failed) == 2 and {item["action"] for item in failed} == {"sign_in_failed"}
    person = world.user_ids["worker_b"]
    history = manager.get(f"/audit?record_type=user&record_id={person}").get_json()
    assert [item["action"] for item in history] == ["sign_in_failed"]
    sign_ins = manager.get(f"/audit?action=sign_in&actor_id={world.user_ids['manager']}")
    assert [item["action"] for item in sign_ins.get_json()] == ["sign_in"]
    assert WRONG not in manager.get("/audit?format=csv").get_data(as_text=True)
    # A worker may not read the trail.
    assert sign_in(world.usernames["worker_a"]).get("/audit").status_code == 403
    with app.app_context():
        anchor_all()  # anchors left by earlier tests name chains this test's database lacks
        assert findings() == []
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


def test_a_refusal_recorded_outside_any_transaction_is_written_once(app):
    """The council sign-in's refusal is recorded after its own rollback, with no transaction
    open: the after-rollback write must not add the same rows a second time (it was a 500).
    """
    from flask import Response

    from service.audit.events import Action, Subject
    from service.audit.trail import record
    from service.database import commit_unit_of_work

    before = event_count(app)
    with app.test_request_context("/desk/sign-in/oidc/callback"):
        db.session.rollback()
        assert not db.session().in_transaction()
        record(Action.SIGN_IN_FAILED, Subject("user", None), actor=None, keep_on_rollback=True)
        assert commit_unit_of_work(Response(status=403)).status_code == 403
        db.session.remove()
    assert event_count(app) == before + 1
