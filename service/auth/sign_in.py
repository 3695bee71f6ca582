"""Checking a password at sign-in: the per-account throttle first, then the password, and the
audit of a refusal or a lock (README "Sign-in limits", "The audit trail").
"""

from __future__ import annotations

from sqlalchemy import select

from service.audit.events import Action
from service.auth import sign_in_audit, throttle
from service.auth.models import User
from service.auth.passwords import hash_password, needs_rehash, verify_password
from service.errors import TooManyRequests, Unauthorized
from service.extensions import db


def _refusal(user: User | None, password_ok: bool) -> str | None:
    """Why the trail says a sign-in was refused (the caller hears only 401), or None."""
    if user is None:
        return "unknown_user"
    if user.password_hash is None:
        return "no_local_password"
    if not password_ok:
        return "wrong_password"
    return None if user.active else "disabled"


def check_password(username: str, password: str, via: str = "api") -> User:
    """The active local user with this username and password; unknown users, wrong passwords,
    disabled accounts and accounts without a local password are refused alike (401), and each
    refusal counts against the username's failed attempts (429 once they are used up; the
    attempt is taken before the password is checked, atomically, and a success gives it back).
    Refusals and locks are audited (``via``: ``api`` or ``desk``); the caller audits a success.
    """
    try:
        throttle.take_attempt(username)
    except TooManyRequests:
        sign_in_audit.refused(Action.SIGN_IN_LOCKED, username, via, "account_locked")
        raise
    user = db.session.scalar(select(User).where(User.username == username))
    password_ok = verify_password(user.password_hash if user else None, password)
    reason = _refusal(user, password_ok)
    if reason is not None:
        sign_in_audit.refused(Action.SIGN_IN_FAILED, username, via, reason, user)
        raise Unauthorized("auth.invalid_credentials", "Wrong username or password.")
    assert user is not None and user.password_hash is not None  # noqa: S101 - _refusal said so
    throttle.succeeded(username)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user
