"""Access tokens: our own (HS256, pinned) and the council identity provider's (JWKS, asymmetric).

Both kinds must carry ``exp``, ``iat``, ``iss`` and ``aud``; the issuer decides which key and
which algorithms are tried, so an HS256 token can never be checked against a public key.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import jwt
from flask import current_app, g, request
from sqlalchemy import bindparam, select
from sqlalchemy.orm import load_only

from service.auth.models import AuthSession, Device, User
from service.columns import utcnow
from service.errors import Unauthorized
from service.extensions import db

log = logging.getLogger(__name__)

LOCAL_ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
# Seconds of clock difference allowed on exp, iat and nbf.
LEEWAY = 30
# How many of our own verified access tokens a process remembers (see _verified_local).
VERIFIED_TOKENS_KEPT = 4096


def issue_access_token(
    user: User,
    session: AuthSession,
    *,
    issued_at: datetime | None = None,
    jti: str | None = None,
) -> tuple[str, int]:
    """Return a signed access token for ``user`` within ``session`` and its lifetime in seconds.

    Given ``issued_at`` and ``jti``, the token is the same string each time (a refresh retried
    within its grace gets the very pair the first attempt got).
    """
    config = current_app.config
    ttl = config["JWT_ACCESS_TTL_SECONDS"]
    now = issued_at or utcnow()
    claims = {
        "iss": config["JWT_ISSUER"],
        "aud": config["JWT_AUDIENCE"],
        "sub": str(user.id),
        "sid": str(session.id),
        "role": user.role,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=ttl),
        "jti": jti or uuid.uuid4().hex,
    }
    return jwt.encode(claims, config["JWT_SECRET"], algorithm=LOCAL_ALGORITHM), ttl


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("auth.required", "Sign in and send 'Authorization: Bearer <token>'.")
    return token.strip()


def device_revoked() -> Unauthorized:
    """The 401 for a token of a revoked device (``auth.device_revoked``)."""
    log.info("access token refused: device revoked")
    return Unauthorized("auth.device_revoked", "This device has been revoked; ask an admin.")


def _invalid(reason: str) -> Unauthorized:
    log.info("access token refused: %s", reason)
    return Unauthorized("auth.invalid_token", "The access token is not valid.")


def authenticate_request() -> User:
    """Return the user named by the request's bearer token, or raise 401."""
    token = _bearer_token()
    config = current_app.config
    issuer = _unverified_issuer(token)
    if issuer == config["JWT_ISSUER"]:
        return _local_user(_verified_local(token))
    if config["JWT_JWKS_URL"] and issuer == config["JWT_OIDC_ISSUER"]:
        from service.auth.identity_provider import signing_key, user_for_token

        key = signing_key(token)
        return user_for_token(_decode(token, key, list(config["JWT_OIDC_ALGORITHMS"]), local=False))
    raise _invalid("unknown issuer")


def _unverified_issuer(token: str) -> Any:
    """The ``iss`` claim, read without checking anything: it only chooses the key and
    algorithms for the one full decode that follows, which checks the issuer again.

    Reading it by hand instead of with a second ``jwt.decode`` halves the token's parsing
    (PyJWT checks every character of every segment on each decode).
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise _invalid("malformed")
    payload = parts[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        raise _invalid("malformed") from None
    if not isinstance(claims, dict):
        raise _invalid("malformed")
    return claims.get("iss")


def _decode(token: str, key: Any, algorithms: list[str], *, local: bool) -> dict[str, Any]:
    config = current_app.config
    try:
        return jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=config["JWT_AUDIENCE"] if local else config["JWT_OIDC_AUDIENCE"],
            issuer=config["JWT_ISSUER"] if local else config["JWT_OIDC_ISSUER"],
            options={"require": [*REQUIRED_CLAIMS, "sid"] if local else REQUIRED_CLAIMS},
            leeway=LEEWAY,
        )
    except jwt.ExpiredSignatureError:
        raise _expired() from None
    except jwt.InvalidTokenError as error:
        raise _invalid(type(error).__name__) from None


def _expired() -> Unauthorized:
    return Unauthorized("auth.token_expired", "The access token has expired; refresh it.")


def _verified_local(token: str) -> dict[str, Any]:
    """The claims of one of our own access tokens, fully checked the first time this process
    sees it; after that only its expiry is checked again.

    A tablet sends the same token with every request until it refreshes, and the signature,
    issuer, audience and times of a given token string cannot change: only the clock moves,
    and ``exp`` is the only claim a later moment can fail (``iat`` and ``nbf`` only ever get
    further into the past). The full decode (PyJWT checks every character of every segment)
    was about a twentieth of a visit create's CPU. Revocation is not cached: the session and
    device are still read from the database on every request (:func:`_local_user`). Kept per
    app, so that the secret, issuer and audience that checked a token are the ones asking; at
    most ``VERIFIED_TOKENS_KEPT`` tokens (all forgotten at once when full).
    """
    verified: dict[str, dict[str, Any]] = current_app.extensions.setdefault(
        "verified_access_tokens", {}
    )
    claims = verified.get(token)
    if claims is None:
        config = current_app.config
        claims = _decode(token, config["JWT_SECRET"], [LOCAL_ALGORITHM], local=True)
        if len(verified) >= VERIFIED_TOKENS_KEPT:
            verified.clear()
        verified[token] = claims
    elif claims["exp"] <= time.time() - LEEWAY:
        raise _expired()
    return claims


# The signed-in user and what decides whether the token still stands: the session's owner and
# revocation, and its device's revocation (none for a web session). One round trip, one ORM
# object (the user) instead of three (session, user, device), every request. The user without
# the password hash and creation time, which almost no request needs (a password change loads
# the hash when it reads it): fewer columns described and converted, and no hash in memory.
_SESSION_CHECK = (
    select(
        User, AuthSession.user_id, AuthSession.revoked_at, AuthSession.device_id, Device.revoked_at
    )
    .options(load_only(User.username, User.display_name, User.role, User.active))
    .join(AuthSession, AuthSession.user_id == User.id)
    .outerjoin(Device, Device.id == AuthSession.device_id)
    .where(AuthSession.id == bindparam("session_id"))
)


def _local_user(claims: dict[str, Any]) -> User:
    try:
        session_id = uuid.UUID(claims["sid"])
        user_id = uuid.UUID(claims["sub"])
    except (ValueError, TypeError, AttributeError):
        raise _invalid("bad sid/sub") from None
    # Read from the database on every request, so a revoked session or device is refused at once.
    found = db.session.execute(_SESSION_CHECK, {"session_id": session_id}).first()
    if found is None:
        raise _invalid("session revoked or unknown")
    user, owner_id, revoked_at, device_id, device_revoked_at = found
    if owner_id != user_id:
        raise _invalid("session unknown")
    if device_revoked_at is not None:
        # Said apart from other refusals: the tablet app wipes what it holds when it hears it.
        raise device_revoked()
    if revoked_at is not None:
        raise _invalid("session revoked")
    if not user.active:
        raise _invalid("user inactive")
    g.auth_session_id = session_id
    g.auth_device_id = device_id
    return user
