"""Devices: a lost tablet is revoked and every token it holds stops working at once."""


def test_signing_in_with_a_device_registers_it(world, sign_in):
    worker = sign_in(world.usernames["worker_a"], device_id="tablet-1")
    sign_in(world.usernames["worker_a"], device_id="tablet-2")
    devices = worker.get("/devices").get_json()
    assert sorted(d["device_id"] for d in devices) == ["tablet-1", "tablet-2"]
    assert all(d["revoked_at"] is None for d in devices)


def test_only_an_admin_sees_everyones_devices(world, sign_in):
    sign_in(world.usernames["worker_a"], device_id="tablet-a")
    other = sign_in(world.usernames["worker_b"], device_id="tablet-b")
    admin = sign_in(world.usernames["admin"])
    assert [d["device_id"] for d in other.get("/devices").get_json()] == ["tablet-b"]
    assert {d["device_id"] for d in admin.get("/devices").get_json()} == {"tablet-a", "tablet-b"}


def test_revoking_a_lost_tablet_ends_its_tokens_immediately(client, world, sign_in):
    lost = sign_in(world.usernames["worker_a"], device_id="lost-tablet")
    desk = sign_in(world.usernames["worker_a"], device_id="desk")
    device_id = next(
        d["id"] for d in desk.get("/devices").get_json() if d["device_id"] == "lost-tablet"
    )
    revoked = desk.delete(f"/devices/{device_id}")
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    assert lost.get("/me").status_code == 401
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": lost.refresh_token})
    assert refresh.status_code == 401
    again = client.post(
        "/api/v1/auth/token",
        json={
            "username": world.usernames["worker_a"],
            "password": "correct horse battery staple",
            "device_id": "lost-tablet",
        },
    )
    assert again.status_code == 403 and again.get_json()["code"] == "auth.device_revoked"
    assert desk.get("/me").status_code == 200
    assert desk.delete(f"/devices/{device_id}").status_code == 200  # twice is harmless


def test_others_cannot_revoke_but_an_admin_can(world, sign_in):
    owner = sign_in(world.usernames["worker_a"], device_id="tablet-x")
    device_id = owner.get("/devices").get_json()[0]["id"]
    assert sign_in(world.usernames["worker_b"]).delete(f"/devices/{device_id}").status_code == 404
    assert (
        sign_in(world.usernames["supervisor_a"]).delete(f"/devices/{device_id}").status_code == 404
    )
    assert sign_in(world.usernames["admin"]).delete(f"/devices/{device_id}").status_code == 200
    assert owner.get("/me").status_code == 401


def test_a_revoked_device_alone_refuses_its_sessions_tokens(app, world, sign_in):
    """The device's own revocation is checked on every request, not only its sessions': a
    device marked revoked by any path (here straight in the database) stops its tokens at once.
    """
    from service.auth.models import AuthSession, Device
    from service.columns import utcnow
    from service.extensions import db

    tablet = sign_in(world.usernames["worker_a"], device_id="tablet-r")
    assert tablet.get("/me").status_code == 200
    with app.app_context():
        device = db.session.scalars(
            db.select(Device).where(Device.client_device_id == "tablet-r")
        ).one()
        device.revoked_at = utcnow()
        db.session.commit()
        sessions = db.session.scalars(
            db.select(AuthSession).where(AuthSession.device_id == device.id)
        ).all()
        assert sessions and all(session.revoked_at is None for session in sessions)
    assert tablet.get("/me").status_code == 401


def test_a_revoked_devices_tokens_say_so(client, world, sign_in):
    """The tablet app wipes what it holds on hearing ``auth.device_revoked``: its access and
    refresh tokens are refused with that code, other refusals keep theirs.
    """
    lost = sign_in(world.usernames["worker_a"], device_id="lost-tablet")
    device_id = lost.get("/devices").get_json()[0]["id"]
    assert sign_in(world.usernames["admin"]).delete(f"/devices/{device_id}").status_code == 200
    refused = lost.get("/cases")
    assert refused.status_code == 401 and refused.get_json()["code"] == "auth.device_revoked"
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": lost.refresh_token})
    assert refresh.status_code == 401 and refresh.get_json()["code"] == "auth.device_revoked"
    signed_out = sign_in(world.usernames["worker_a"], device_id="kept-tablet")
    assert signed_out.post("/auth/logout").status_code == 204
    assert signed_out.get("/cases").get_json()["code"] == "auth.invalid_token"
