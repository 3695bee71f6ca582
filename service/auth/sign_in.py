"""Checking a password at sign-in: the account looked up as uniqueness reads usernames, then the
per-account throttle, then the password, and the audit of a refusal or a lock (README "Sign-in
limits", "The audit trail").
"""

from __future__ import annotations

from sqlalchemy import func, or_, select

from service.audit.events import Action
from service.auth import sign_in_audit, throttle
from service.auth.models import User
from service.auth.passwords import hash_password, needs_rehash, verify_password
from service.errors import TooManyRequests, Unauthorized
from service.extensions import db


def account_named(username: str) -> User | None:
    """The account a person means by ``username`` as typed at sign-in, or None.

    Read as usernames are kept unique (the same in any mix of capitals: a unique index on
    ``lower(username)``, which this lookup reads on PostgreSQL) and as the throttle counts them:
    surrounding spaces trimmed, compatibility-normalised, case folded, compared with the stored
    username in lower case. The council's identity provider and the command line's ``--as`` and
    ``--by`` find accounts this way too. A username stored exactly as typed wins (case folding
    and the database's ``lower()`` read a few letters differently, such as ``ß``, and SQLite's
    reads only A to Z); two or more others, none typed exactly, name no one.
    """
    typed = username.strip()
    candidates = db.session.scalars(
        select(User).where(
            or_(
                User.username == typed,
                func.lower(User.username) == throttle.normalised_username(typed),
            )
        )
    ).all()
    exact = [user for user in candidates if user.username == typed]
    if exact:
        return exact[0]
    return candidates[0] if len(candidates) == 1 else None


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
    refusal counts against the username's failed attempts (429 once they are used up).

    The account is looked up first (:func:`account_named`), so a sign-in that cannot be checked
    (the database down or hung: 503) takes no attempt. Then the attempt is taken, atomically,
    just before the password is checked (a locked account costs no hashing), and a success gives
    it back. Unknown usernames are looked up, counted and hashed for exactly like real ones.
    Refusals and locks are audited (``via``: ``api`` or ``desk``); the caller audits a success.
    """
    user = account_named(username)
    try:
        throttle.take_attempt(username)
    except TooManyRequests:
        sign_in_audit.refused(Action.SIGN_IN_LOCKED, username, via, "account_locked", user)
        raise
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
