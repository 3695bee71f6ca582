"""Sign-in, refresh-token rotation and sign-out. Functions flush; the request boundary commits."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from service.auth.models import AuthSession, Device, RefreshToken, User
from service.auth.passwords import hash_password, needs_rehash, verify_password
from service.auth.tokens import issue_access_token
from service.columns import utcnow
from service.database import keep_changes_on_error
from service.errors import Forbidden, NotFound, Unauthorized
from service.extensions import db


@dataclass(frozen=True)
class TokenPair:
    """What a successful sign-in or refresh returns."""

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret


def _digest(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


def _new_refresh_token(session: AuthSession) -> str:
    raw = secrets.token_urlsafe(32)
    days = current_app.config["JWT_REFRESH_TTL_DAYS"]
    db.session.add(
        RefreshToken(
            session=session,
            token_hash=_digest(raw),
            expires_at=utcnow() + timedelta(days=days),
        )
    )
    return raw


def _register_device(user: User, client_device_id: str, name: str | None) -> Device:
    device = db.session.scalar(
        select(Device).where(Device.user_id == user.id, Device.client_device_id == client_device_id)
    )
    if device is None:
        device = Device(user_id=user.id, client_device_id=client_device_id, name=name)
        db.session.add(device)
    elif device.revoked_at is not None:
        raise Forbidden("auth.device_revoked", "This device has been revoked; ask an admin.")
    device.last_used_at = utcnow()
    if name:
        device.name = name
    return device


def find_active_user(name_or_id: str) -> User:
    """The active user with this username or id (a command line's ``--as`` or ``--by``)."""
    try:
        query = select(User).where(User.id == uuid.UUID(name_or_id))
    except ValueError:
        query = select(User).where(User.username == name_or_id)
    user = db.session.scalar(query)
    if user is None or not user.active:
        raise NotFound("user.not_found", "No such active user.")
    return user


def check_password(username: str, password: str) -> User:
    """The active local user with this username and password; unknown users, wrong passwords,
    disabled accounts and accounts without a local password are refused alike (401).
    """
    user = db.session.scalar(select(User).where(User.username == username))
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None or not password_ok or not user.active or user.password_hash is None:
        raise Unauthorized("auth.invalid_credentials", "Wrong username or password.")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def login(
    username: str, password: str, client_device_id: str | None, device_name: str | None
) -> TokenPair:
    """Check the password and start a session; unknown users and wrong passwords look the same."""
    user = check_password(username, password)
    device = _register_device(user, client_device_id, device_name) if client_device_id else None
    session = AuthSession(user=user, device=device)
    db.session.add(session)
    db.session.flush()
    refresh_token = _new_refresh_token(session)
    access_token, ttl = issue_access_token(user, session)
    return TokenPair(access_token, refresh_token, ttl)


def revoke_session(session: AuthSession, reason: str) -> None:
    """End a session: its refresh tokens stop working and so do its access tokens."""
    if session.revoked_at is None:
        session.revoked_at = utcnow()
        session.revoked_reason = reason


def refresh(raw_token: str) -> TokenPair:
    """Rotate a refresh token. Reusing a rotated one revokes the whole family (it was stolen)."""
    token = db.session.scalar(
        select(RefreshToken)
        .where(RefreshToken.token_hash == _digest(raw_token))
        .with_for_update(of=RefreshToken)
    )
    refused = Unauthorized(
        "auth.invalid_refresh_token", "The refresh token is not valid; sign in again."
    )
    if token is None:
        raise refused
    session = token.session
    if session.revoked_at is not None or not session.user.active:
        raise refused
    if session.device is not None and session.device.revoked_at is not None:
        raise refused
    if token.replaced_at is not None:
        revoke_session(session, "refresh_token_reuse")
        keep_changes_on_error()
        raise Unauthorized(
            "auth.refresh_token_reused", "This refresh token was already used; sign in again."
        )
    if token.expires_at <= utcnow():
        raise refused
    token.replaced_at = utcnow()
    new_raw = _new_refresh_token(session)
    access_token, ttl = issue_access_token(session.user, session)
    return TokenPair(access_token, new_raw, ttl)


def logout(user: User, session_id: uuid.UUID | None) -> None:
    """Revoke the caller's session, and every session of its device when it has one."""
    session = db.session.get(AuthSession, session_id) if session_id else None
    if session is None or session.user_id != user.id:
        return
    if session.device_id is None:
        revoke_session(session, "logout")
        return
    db.session.execute(
        update(AuthSession)
        .where(AuthSession.device_id == session.device_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason="logout")
    )
