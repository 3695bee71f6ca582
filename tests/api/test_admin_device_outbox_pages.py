"""The admin's devices and deliveries pages: the tablets listed with their users, revoking a lost
one (its refresh stops working, as through the API), the outbox with its backlog, filters and a
message's attempts and last error (never the payload), and retrying a dead letter.
"""

from __future__ import annotations

from sqlalchemy import select

from service.audit.models import AuditEvent
from service.auth.models import Device
from service.core_system.models import MessageStatus, OutboxMessage
from service.extensions import db
from tests.api.test_core_system import approved_visit, deliver_now
from tests.desk import desk_post, desk_sign_in
from tests.factories import OWN_WORDS


def _device(app, client_device_id):
    with app.app_context():
        device = db.session.scalar(
            select(Device).where(Device.client_device_id == client_device_id)
        )
        db.session.expunge(device)
        return device


def _dead_letter(app, error="HTTP 422 from the core system: unknown person reference"):
    with app.app_context():
        db.session.execute(
            db.update(OutboxMessage).values(
                status=MessageStatus.DEAD, attempts=15, last_error=error
            )
        )
        db.session.commit()
        return db.session.scalar(select(OutboxMessage.id))


def test_devices_are_listed_with_their_users(app, client, world, sign_in):
    sign_in(world.usernames["worker_a"], device_id="tablet-north-7")
    sign_in(world.usernames["worker_b"], device_id="tablet-south-2")
    desk_sign_in(client, world.usernames["admin"])
    body = client.get("/desk/admin/devices").get_data(as_text=True)
    assert "tablet-north-7" in body and "tablet-south-2" in body
    assert world.usernames["worker_a"] in body and world.usernames["worker_b"] in body
    owner = world.user_ids["worker_a"]
    only = client.get(f"/desk/admin/devices?user={owner}&state=all").get_data(as_text=True)
    assert "tablet-north-7" in only and "tablet-south-2" not in only
    assert client.get("/desk/admin/devices?state=revoked&page=x").status_code == 200


def test_revoking_a_lost_tablet_stops_its_refresh(app, client, world, sign_in):
    tablet = sign_in(world.usernames["worker_a"], device_id="lost-tablet")
    device = _device(app, "lost-tablet")
    desk_sign_in(client, world.usernames["admin"])
    page = f"/desk/admin/devices/{device.id}/revoke"
    confirm = client.get(page)
    assert confirm.status_code == 200
    assert "Revoke the tablet" in confirm.get_data(as_text=True)
    assert _device(app, "lost-tablet").revoked_at is None, "looking does not revoke"
    response = desk_post(client, page, {}, page)
    assert response.status_code == 302
    listed = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The tablet lost-tablet is revoked." in listed and "No devices to show" in listed
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": tablet.refresh_token})
    assert refreshed.status_code == 401
    assert tablet.get("/me").status_code == 401
    assert _device(app, "lost-tablet").revoked_at is not None
    revoked = client.get("/desk/admin/devices?state=revoked").get_data(as_text=True)
    assert "lost-tablet" in revoked
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "revoke"))
        assert event.record_id == str(device.id) and event.actor_role == "admin"


def test_revoking_needs_the_csrf_token_and_an_existing_device(app, client, world, sign_in):
    sign_in(world.usernames["worker_a"], device_id="kept-tablet")
    device = _device(app, "kept-tablet")
    desk_sign_in(client, world.usernames["admin"])
    assert client.post(f"/desk/admin/devices/{device.id}/revoke").status_code == 400
    assert _device(app, "kept-tablet").revoked_at is None
    missing = "00000000-0000-0000-0000-000000000000"
    assert (
        desk_post(client, f"/desk/admin/devices/{missing}/revoke", {}, "/desk/").status_code == 404
    )


def test_the_outbox_shows_the_backlog_and_states_never_the_payload(
    app, client, world, worker, supervisor
):
    approved_visit(app, world, worker, supervisor)
    desk_sign_in(client, world.usernames["admin"])
    body = client.get("/desk/admin/outbox").get_data(as_text=True)
    assert "Waiting" in body and "Dead letters" in body and "Oldest not delivered" in body
    assert OWN_WORDS not in body
    message_id = _dead_letter(app)
    dead = client.get("/desk/admin/outbox?status=dead").get_data(as_text=True)
    assert f'href="/desk/admin/outbox/{message_id}"' in dead
    assert "HTTP 422 from the core system" in dead and "Dead letter" in dead
    pending = client.get("/desk/admin/outbox?status=pending").get_data(as_text=True)
    assert f'href="/desk/admin/outbox/{message_id}"' not in pending
    detail = client.get(f"/desk/admin/outbox/{message_id}").get_data(as_text=True)
    assert "15" in detail and "unknown person reference" in detail and "Retry" in detail
    assert OWN_WORDS not in detail
    assert client.get("/desk/admin/outbox/999999").status_code == 404
    assert client.get("/desk/admin/outbox?status=bogus&before=x").status_code == 200


def test_an_admin_retries_a_dead_letter(app, client, world, worker, supervisor):
    approved_visit(app, world, worker, supervisor)
    message_id = _dead_letter(app)
    assert deliver_now(app) == 0
    desk_sign_in(client, world.usernames["admin"])
    page = f"/desk/admin/outbox/{message_id}"
    response = desk_post(client, f"{page}/retry", {}, page)
    assert response.status_code == 302
    assert "queued again" in client.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        message = db.session.get(OutboxMessage, message_id)
        assert (message.status, message.attempts) == ("pending", 0)
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "retry"))
        assert event.record_id == str(message_id) and event.actor_role == "admin"
    assert deliver_now(app) == 1
    again = desk_post(client, f"{page}/retry", {}, page)
    assert again.status_code == 409
    assert "Only a dead letter can be retried" in again.get_data(as_text=True)
    assert client.post(f"{page}/retry").status_code == 400  # no CSRF token
