"""Sign-in and token attacks: every forged, expired or replayed credential is refused."""

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from argon2 import PasswordHasher, extract_parameters
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from service.auth.models import AuthSession, RefreshToken, User
from service.extensions import db
from tests.conftest import OIDC_AUDIENCE, OIDC_ISSUER
from tests.factories import PASSWORD, make_user

SECRET = "demo-secret-change-me-in-production"


def token_for(client, username, password=PASSWORD, **extra):
    return client.post(
        "/api/v1/auth/token", json={"username": username, "password": password, **extra}
    )


def local_claims(user_id, session_id, **overrides):
    now = datetime.now(UTC)
    claims = {
        "iss": "seen-and-heard",
        "aud": "seen-and-heard-api",
        "sub": user_id,
        "sid": session_id,
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def me(client, token):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def signed_in(client, world):
    """A real session for worker_a: its token's claims are the base for forgeries."""
    response = token_for(client, world.usernames["worker_a"], device_id="tablet-7")
    tokens = response.get_json()
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    return tokens, claims


def test_sign_in_returns_the_contracted_shape(client, world):
    response = token_for(client, world.usernames["worker_a"])
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    who = me(client, body["access_token"]).get_json()
    assert who["username"] == world.usernames["worker_a"] and who["role"] == "social_worker"
    assert [team["name"] for team in who["teams"]] == ["team-a"]


def test_password_is_stored_as_argon2(app, world):
    with app.app_context():
        user = db.session.get(User, __import__("uuid").UUID(world.user_ids["worker_a"]))
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


def test_wrong_password_and_unknown_user_get_the_same_answer(client, world):
    wrong = token_for(client, world.usernames["worker_a"], password="nope")
    unknown = token_for(client, "nobody.at.all", password="nope")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert wrong.get_json()["code"] == "auth.invalid_credentials"


def test_wrong_password_and_unknown_user_do_the_same_work(client, world, monkeypatch):
    """An unknown username still verifies one argon2 hash with the same parameters, so both
    answers take as long. Counted, not timed: a timing assertion is noise on a shared machine.
    """
    verified = []
    original = PasswordHasher.verify

    def counting(self, hash_, password):
        verified.append(extract_parameters(hash_))
        return original(self, hash_, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    assert token_for(client, world.usernames["worker_a"], password="nope").status_code == 401
    assert token_for(client, "nobody.at.all", password="nope").status_code == 401
    assert len(verified) == 2 and verified[0] == verified[1]


def test_inactive_user_cannot_sign_in_and_existing_tokens_stop(app, client, world, signed_in):
    tokens, _ = signed_in
    with app.app_context():
        user = db.session.get(User, __import__("uuid").UUID(world.user_ids["worker_a"]))
        user.active = False
        db.session.commit()
    assert token_for(client, world.usernames["worker_a"]).status_code == 401
    assert me(client, tokens["access_token"]).status_code == 401


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "auth.required"),
        ("Basic dXNlcjpwYXNz", "auth.required"),
        ("Bearer ", "auth.required"),
        ("Bearer not-a-jwt", "auth.invalid_token"),
        ("Bearer a.b.c", "auth.invalid_token"),
        # The issuer is read from the payload by hand before the one full decode: whatever
        # the payload holds, the answer is a 401.
        ("Bearer a.b", "auth.invalid_token"),
        ("Bearer a.b.c.d", "auth.invalid_token"),
        ("Bearer e30.W10.c", "auth.invalid_token"),  # payload `[]`, not an object
        ("Bearer e30.bnVsbA.c", "auth.invalid_token"),  # payload `null`
        ("Bearer e30.eyJpc3MiOiBbMV19.c", "auth.invalid_token"),  # `{"iss": [1]}`
        ("Bearer e30./w.c", "auth.invalid_token"),  # a byte that is not UTF-8
        ("Bearer e30.\u00e9\u00e9.c", "auth.invalid_token"),  # not ASCII
        ("Bearer e30." + "W1tb" * 1500 + ".c", "auth.invalid_token"),  # 4,500 `[`: too deep
    ],
)
def test_missing_or_malformed_authorization(client, header, code):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["code"] == code
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.mimetype == "application/problem+json"


def test_expired_token(client, signed_in):
    _, claims = signed_in
    past = datetime.now(UTC) - timedelta(hours=1)
    forged = jwt.encode(
        local_claims(claims["sub"], claims["sid"], iat=past, exp=past + timedelta(minutes=15)),
        SECRET,
    )
    response = me(client, forged)
    assert response.status_code == 401 and response.get_json()["code"] == "auth.token_expired"


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "some-other-api"},
        {"iss": "seen-and-heard-evil"},
        {"exp": None},
        {"iat": None},
        {"aud": None},
        {"sid": None},
    ],
    ids=["wrong-audience", "wrong-issuer", "no-exp", "no-iat", "no-aud", "no-session"],
)
def test_wrong_or_missing_claims(client, signed_in, overrides):
    _, claims = signed_in
    forged = jwt.encode(local_claims(claims["sub"], claims["sid"], **overrides), SECRET)
    assert me(client, forged).status_code == 401


def _unsigned(claims, alg="none"):
    def b64(data):
        return (
            base64.urlsafe_b64encode(json.dumps(data, default=str).encode()).rstrip(b"=").decode()
        )

    payload = {k: int(v.timestamp()) if isinstance(v, datetime) else v for k, v in claims.items()}
    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(payload)}."


def test_alg_none_is_refused(client, signed_in):
    _, claims = signed_in
    assert me(client, _unsigned(local_claims(claims["sub"], claims["sid"]))).status_code == 401
    assert (
        me(client, _unsigned(local_claims(claims["sub"], claims["sid"]), "None")).status_code == 401
    )


def test_tampered_signature_and_payload_are_refused(client, signed_in):
    tokens, claims = signed_in
    header, payload, signature = tokens["access_token"].split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert me(client, f"{header}.{payload}.{flipped}").status_code == 401
    evil = dict(claims, role="manager", sub=claims["sub"])
    evil_payload = base64.urlsafe_b64encode(json.dumps(evil).encode()).rstrip(b"=").decode()
    assert me(client, f"{header}.{evil_payload}.{signature}").status_code == 401


def test_token_signed_with_another_secret_is_refused(client, signed_in):
    _, claims = signed_in
    forged = jwt.encode(
        local_claims(claims["sub"], claims["sid"]), "guessed-secret-guessed-secret-32"
    )
    assert me(client, forged).status_code == 401


def test_hs_rs_confusion_is_refused(client, jwks_server, signed_in):
    """An HS256 token keyed with the identity provider's public key must not pass as RS256."""
    public_pem = jwks_server.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = datetime.now(UTC)
    claims = {
        "iss": OIDC_ISSUER,
        "aud": OIDC_AUDIENCE,
        "sub": "x",
        "preferred_username": "mallory",
        "roles": ["manager"],
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "council-key-1"}).encode())
    payload = b64(json.dumps(claims, default=lambda d: int(d.timestamp())).encode())
    signature = b64(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    assert me(client, f"{header}.{payload}.{signature}").status_code == 401
    # ...and an RS256 token claiming our own issuer is refused too (we pin HS256 for ours).
    _, local = signed_in
    rs_local = jwt.encode(
        local_claims(local["sub"], local["sid"]), jwks_server.private_key, algorithm="RS256"
    )
    assert me(client, rs_local).status_code == 401


def oidc_token(jwks_server, **overrides):
    now = datetime.now(UTC)
    claims = {
        "iss": OIDC_ISSUER,
        "aud": OIDC_AUDIENCE,
        "sub": "idp-123",
        "preferred_username": "sam.supervisor",
        "name": "Sam Supervisor",
        "roles": ["supervisor"],
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(
        claims, jwks_server.private_key, algorithm="RS256", headers={"kid": "council-key-1"}
    )


def test_identity_provider_tokens_are_accepted_and_roles_mapped(client, jwks_server):
    response = me(client, oidc_token(jwks_server))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["role"] == "supervisor"
    assert response.get_json()["username"] == "sam.supervisor"
    promoted = me(client, oidc_token(jwks_server, roles=["social_worker", "manager"]))
    assert promoted.get_json()["role"] == "manager"


def test_identity_provider_tokens_find_the_account_as_sign_in_does(app, client, jwks_server):
    """The username claim names the local account trimmed and in any mix of capitals, as a
    sign-in does; a new account gets the trimmed claim.
    """
    with app.app_context():
        local = make_user("social_worker", username="sam.supervisor")
        db.session.commit()
        local_id = str(local.id)
    for claimed in ("Sam.Supervisor", " SAM.SUPERVISOR ", "sam.supervisor"):
        response = me(client, oidc_token(jwks_server, preferred_username=claimed))
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert (body["id"], body["username"], body["role"]) == (
            local_id,
            "sam.supervisor",
            "supervisor",
        )
    new = me(client, oidc_token(jwks_server, preferred_username="  New.Person "))
    assert new.status_code == 200 and new.get_json()["username"] == "New.Person"
    assert me(client, oidc_token(jwks_server, preferred_username="   ")).status_code == 401
    with app.app_context():
        names = db.session.scalars(select(User.username).order_by(User.username)).all()
        assert names == ["New.Person", "sam.supervisor"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "someone-else"},
        {"exp": None},
        {"iat": None},
        {"exp": datetime.now(UTC) - timedelta(hours=1)},
    ],
    ids=["wrong-audience", "no-exp", "no-iat", "expired"],
)
def test_identity_provider_token_claims_are_checked(client, jwks_server, overrides):
    assert me(client, oidc_token(jwks_server, **overrides)).status_code == 401


def test_identity_provider_token_without_a_role_is_forbidden(client, jwks_server):
    response = me(client, oidc_token(jwks_server, roles=["canteen"]))
    assert response.status_code == 403 and response.get_json()["code"] == "auth.no_role"


def test_refresh_rotates_and_reuse_revokes_the_family(app, client, signed_in):
    tokens, _ = signed_in
    first = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert first.status_code == 200
    rotated = first.get_json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert me(client, rotated["access_token"]).status_code == 200
    # The old refresh token is presented again after the retry grace: someone copied it. The
    # whole family dies.
    past_the_grace(app, tokens["refresh_token"])
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reuse.status_code == 401 and reuse.get_json()["code"] == "auth.refresh_token_reused"
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 401
    assert me(client, rotated["access_token"]).status_code == 401
    with app.app_context():
        assert all(s.revoked_reason == "refresh_token_reuse" for s in db.session.query(AuthSession))


def past_the_grace(app, raw_token):
    """Move the token's rotation back beyond ``JWT_REFRESH_GRACE_SECONDS``."""
    digest = hashlib.sha256(raw_token.encode()).hexdigest()
    grace = app.config["JWT_REFRESH_GRACE_SECONDS"]
    with app.app_context():
        row = db.session.query(RefreshToken).filter_by(token_hash=digest).one()
        row.replaced_at -= timedelta(seconds=grace + 1)
        db.session.commit()


def refresh(client, raw_token):
    return client.post("/api/v1/auth/refresh", json={"refresh_token": raw_token})


def test_a_refresh_retried_within_the_grace_gets_the_same_pair(app, client, signed_in):
    tokens, _ = signed_in
    first = refresh(client, tokens["refresh_token"])
    # The answer was lost on the way to the tablet; it tries again a moment later.
    retried = refresh(client, tokens["refresh_token"])
    assert first.status_code == retried.status_code == 200
    assert retried.get_json() == first.get_json()
    with app.app_context():
        assert all(s.revoked_at is None for s in db.session.query(AuthSession))
    pair = first.get_json()
    assert me(client, pair["access_token"]).status_code == 200
    onwards = refresh(client, pair["refresh_token"])
    assert onwards.status_code == 200 and onwards.get_json() != pair


def test_a_retry_after_its_successor_was_used_is_a_reuse(app, client, signed_in):
    tokens, _ = signed_in
    pair = refresh(client, tokens["refresh_token"]).get_json()
    assert refresh(client, pair["refresh_token"]).status_code == 200
    # Within the grace still, but whoever holds the pair has moved on: this is a copy.
    reuse = refresh(client, tokens["refresh_token"])
    assert reuse.status_code == 401 and reuse.get_json()["code"] == "auth.refresh_token_reused"
    assert me(client, pair["access_token"]).status_code == 401


def test_without_a_grace_any_reuse_revokes(app, client, signed_in):
    tokens, _ = signed_in
    app.config["JWT_REFRESH_GRACE_SECONDS"] = 0
    try:
        assert refresh(client, tokens["refresh_token"]).status_code == 200
        reuse = refresh(client, tokens["refresh_token"])
    finally:
        app.config["JWT_REFRESH_GRACE_SECONDS"] = 30
    assert reuse.status_code == 401 and reuse.get_json()["code"] == "auth.refresh_token_reused"


def test_refresh_tokens_are_stored_hashed(app, signed_in):
    tokens, _ = signed_in
    with app.app_context():
        stored = [row.token_hash for row in db.session.query(RefreshToken)]
    assert tokens["refresh_token"] not in stored and len(stored) == 1


def test_unknown_and_expired_refresh_tokens(app, client, signed_in):
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": "made-up"}).status_code == 401
    tokens, _ = signed_in
    with app.app_context():
        for row in db.session.query(RefreshToken):
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 401


def test_logout_revokes_the_device_tokens(client, world, signed_in):
    tokens, _ = signed_in
    other = token_for(client, world.usernames["worker_a"], device_id="tablet-7").get_json()
    elsewhere = token_for(client, world.usernames["worker_a"], device_id="desk-pc").get_json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert me(client, tokens["access_token"]).status_code == 401
    assert me(client, other["access_token"]).status_code == 401
    refused = client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert refused.status_code == 401
    assert me(client, elsewhere["access_token"]).status_code == 200


def test_login_is_rate_limited(app, client, world):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    try:
        env = {"REMOTE_ADDR": "127.0.0.9"}
        body = {"username": world.usernames["worker_a"], "password": "nope"}
        codes = [
            client.post("/api/v1/auth/token", json=body, environ_base=env).status_code
            for _ in range(3)
        ]
        limited = client.post("/api/v1/auth/token", json=body, environ_base=env)
    finally:
        app.config["LOGIN_RATE_LIMIT"] = "10000 per minute"
    assert codes == [401, 401, 401] and limited.status_code == 429
    assert limited.get_json()["code"] == "rate_limited"
    # A moving window: the oldest of the three attempts frees a place within the minute.
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
