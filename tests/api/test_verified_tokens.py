"""Our own access tokens are fully checked once per process, then only their expiry: the
memo must never let through what a full check would refuse.
"""

import jwt

from service import create_app
from service.auth import tokens
from tests.api.test_auth import me, token_for


def _signed_in(client, world):
    access = token_for(client, world.usernames["worker_a"]).get_json()["access_token"]
    return access, jwt.decode(access, options={"verify_signature": False})


def test_a_remembered_token_still_expires(client, world, monkeypatch):
    access, claims = _signed_in(client, world)
    assert me(client, access).status_code == 200  # checked in full, and remembered
    assert me(client, access).status_code == 200  # remembered
    later = claims["exp"] + tokens.LEEWAY
    monkeypatch.setattr(tokens.time, "time", lambda: later)
    response = me(client, access)
    assert response.status_code == 401
    assert response.get_json()["code"] == "auth.token_expired"


def test_a_remembered_token_is_still_revocable(client, world):
    access, _ = _signed_in(client, world)
    assert me(client, access).status_code == 200
    assert client.post(
        "/api/v1/auth/logout", headers={"Authorization": f"Bearer {access}"}
    ).status_code in (200, 204)
    response = me(client, access)
    assert response.status_code == 401 and response.get_json()["code"] == "auth.invalid_token"


def test_a_token_remembered_by_one_app_is_checked_afresh_by_another(app, client, world):
    access, _ = _signed_in(client, world)
    assert me(client, access).status_code == 200
    other = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "JWT_SECRET": "another-secret-" + "x" * 40,
        }
    )
    response = me(other.test_client(), access)
    assert response.status_code == 401 and response.get_json()["code"] == "auth.invalid_token"


def test_the_memo_is_bounded(app, client, world, monkeypatch):
    monkeypatch.setattr(tokens, "VERIFIED_TOKENS_KEPT", 2)
    for _ in range(3):
        access, _ = _signed_in(client, world)
        assert me(client, access).status_code == 200
    assert len(app.extensions["verified_access_tokens"]) <= 2
