"""Sign-in, refresh-token rotation and sign-out, and an admin's work on accounts (create,
disable, re-enable, reset a password, change role and teams). Functions flush; the request
boundary (or the command line) commits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from service.audit.events import Action, Subject
from service.audit.trail import record
from service.auth import sign_in_audit, throttle
from service.auth.models import ROLES, AuthSession, Device, RefreshToken, Team, User
from service.auth.passwords import hash_password, password_problems
from service.auth.sign_in import account_named, check_password
from service.auth.tokens import issue_access_token
from service.columns import is_storable, utcnow
from service.database import keep_changes_on_error
from service.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
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


def _derived(purpose: str, raw_token: str) -> str:
    """A value only the service can compute from ``raw_token`` (HMAC with ``JWT_SECRET``)."""
    key = current_app.config["JWT_SECRET"].encode()
    mac = hmac.new(key, f"{purpose}\0{raw_token}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _new_refresh_token(session: AuthSession, raw: str | None = None) -> RefreshToken:
    """Store a refresh token for ``session`` (a random one unless ``raw`` is given)."""
    days = current_app.config["JWT_REFRESH_TTL_DAYS"]
    now = utcnow()
    token = RefreshToken(
        session=session,
        token_hash=_digest(raw or secrets.token_urlsafe(32)),
        issued_at=now,
        expires_at=now + timedelta(days=days),
    )
    db.session.add(token)
    return token


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
    """The active user with this id or username (a command line's ``--as`` or ``--by``); the
    username is read as sign-in reads it (:func:`account_named`: trimmed, any mix of capitals).
    """
    try:
        user = db.session.get(User, uuid.UUID(name_or_id))
    except ValueError:
        user = account_named(name_or_id)
    if user is None or not user.active:
        raise NotFound("user.not_found", "No such active user.")
    return user


def login(
    username: str, password: str, client_device_id: str | None, device_name: str | None
) -> TokenPair:
    """Check the password and start a session; unknown users and wrong passwords look the same."""
    user = check_password(username, password, via="api")
    device = _register_device(user, client_device_id, device_name) if client_device_id else None
    session = AuthSession(user=user, device=device)
    db.session.add(session)
    db.session.flush()
    sign_in_audit.signed_in(user, session, "api")
    refresh_token = secrets.token_urlsafe(32)
    _new_refresh_token(session, refresh_token)
    access_token, ttl = issue_access_token(user, session)
    return TokenPair(access_token, refresh_token, ttl)


def revoke_session(session: AuthSession, reason: str) -> None:
    """End a session: its refresh tokens stop working and so do its access tokens."""
    if session.revoked_at is None:
        session.revoked_at = utcnow()
        session.revoked_reason = reason


def refresh(raw_token: str) -> TokenPair:
    """Rotate a refresh token. Reusing a rotated one revokes the whole family (it was stolen),
    except a retry within ``JWT_REFRESH_GRACE_SECONDS`` whose answer was lost on the way (a
    tablet on a bad connection): it gets the same pair again, while that pair is unused.

    The successor is derived from the old token (an HMAC only the service can compute), so a
    retry, or two refreshes racing on one token, find it rather than make a second one.
    """
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
    if session.device is not None and session.device.revoked_at is not None:
        # Said apart from other refusals: the tablet app wipes what it holds when it hears it.
        raise Unauthorized("auth.device_revoked", "This device has been revoked; ask an admin.")
    if session.revoked_at is not None or not session.user.active:
        raise refused
    successor_raw = _derived("refresh-successor", raw_token)
    if token.replaced_at is not None:
        successor = _retried_rotation(token, successor_raw)
        if successor is None:
            revoke_session(session, "refresh_token_reuse")
            sign_in_audit.refresh_token_reused(session)
            keep_changes_on_error()
            raise Unauthorized(
                "auth.refresh_token_reused", "This refresh token was already used; sign in again."
            )
        return _rotated_pair(session, successor, successor_raw)
    if token.expires_at <= utcnow():
        raise refused
    token.replaced_at = utcnow()
    successor = _new_refresh_token(session, successor_raw)
    return _rotated_pair(session, successor, successor_raw)


def _retried_rotation(token: RefreshToken, successor_raw: str) -> RefreshToken | None:
    """The successor a retry within the grace may have again: same session, not yet used itself,
    unexpired. ``None`` means the old token is being reused.
    """
    grace = timedelta(seconds=current_app.config["JWT_REFRESH_GRACE_SECONDS"])
    now = utcnow()
    if token.replaced_at is None or now - token.replaced_at > grace:
        return None
    successor = db.session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == _digest(successor_raw))
    )
    if (
        successor is None
        or successor.session_id != token.session_id
        or successor.replaced_at is not None
        or successor.expires_at <= now
    ):
        return None
    return successor


def _rotated_pair(session: AuthSession, successor: RefreshToken, successor_raw: str) -> TokenPair:
    """The pair a rotation answers: the same strings for the first attempt and every retry."""
    access_token, ttl = issue_access_token(
        session.user,
        session,
        issued_at=successor.issued_at,
        jti=_derived("access-jti", successor_raw),
    )
    return TokenPair(access_token, successor_raw, ttl)


def logout(user: User, session_id: uuid.UUID | None) -> None:
    """Revoke the caller's session, and every session of its device when it has one."""
    session = db.session.get(AuthSession, session_id) if session_id else None
    if session is None or session.user_id != user.id:
        return
    if session.device_id is None:
        ended = int(session.revoked_at is None)
        revoke_session(session, "logout")
    else:
        result = db.session.execute(
            update(AuthSession)
            .where(AuthSession.device_id == session.device_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason="logout")
        )
        ended = int(getattr(result, "rowcount", 0) or 0)
    sign_in_audit.signed_out(user, session.id, "api", ended)


# An admin's work on accounts. Each change is audited with ids, roles and team names only.

USERNAME_MAX = 150
# A new username is plain: no look-alike letters of other scripts, no invisible or right-to-left
# characters to make one name read as another in a list. (Sign-in does not apply it: accounts
# made before the rule, or by an identity provider, keep their names.)
USERNAME = re.compile(r"[A-Za-z0-9._@-]+")
DISPLAY_NAME_MAX = 200


def _taken(username: str) -> str:
    """Why ``username`` cannot be had: the check above, and the database's unique index on
    ``lower(username)`` when another admin took it a moment ago, say it alike.
    """
    return f"user {username!r} already exists (in some mix of capitals)"


def _refused(errors: dict[str, list[str]]) -> ValidationFailed:
    return ValidationFailed("user.invalid", "The account was not saved.", errors=errors)


def _teams_named(names: Iterable[str], errors: dict[str, list[str]]) -> list[Team]:
    wanted = set(names)
    if not all(is_storable(name) for name in wanted):  # no team's name; nor a query's parameter
        errors["teams"] = ["choose teams by their names"]
        return []
    found = list(db.session.scalars(select(Team).where(Team.name.in_(wanted)).order_by(Team.name)))
    missing = wanted - {team.name for team in found}
    if missing:
        errors["teams"] = [f"no such team: {', '.join(sorted(missing))}"]
    return found


def _check_role(role: str, errors: dict[str, list[str]]) -> None:
    if role not in ROLES:
        errors["role"] = [f"choose one of: {', '.join(ROLES)}"]


def create_user(
    actor: User | None,
    *,
    username: str,
    display_name: str | None,
    role: str,
    team_names: Iterable[str],
    password: str,
) -> User:
    """Create a local account whose password meets the password rule (``password_problems``).

    Every problem is reported at once, by field (``ValidationFailed.errors``).
    """
    username = username.strip()
    name = (display_name or "").strip() or username
    errors: dict[str, list[str]] = {}
    if not username:
        errors["username"] = ["enter a username"]
    elif len(username) > USERNAME_MAX or not USERNAME.fullmatch(username):
        errors["username"] = [
            f"use up to {USERNAME_MAX} characters: letters a to z, digits, and . _ - @"
        ]
    elif db.session.scalar(
        select(User.id).where(func.lower(User.username) == username.lower()).limit(1)
    ):
        errors["username"] = [_taken(username)]
    if len(name) > DISPLAY_NAME_MAX or not is_storable(name):
        errors["display_name"] = [f"use up to {DISPLAY_NAME_MAX} characters"]
    _check_role(role, errors)
    teams = _teams_named(team_names, errors)
    problems = password_problems(username, password)
    if problems:
        errors["password"] = problems
    if errors:
        raise _refused(errors)
    user = User(
        username=username,
        display_name=name,
        role=role,
        password_hash=hash_password(password),
    )
    try:
        with db.session.begin_nested():
            db.session.add(user)
    except IntegrityError:  # created at the same moment by another admin, in any capitals
        raise _refused({"username": [_taken(username)]}) from None
    user.teams = teams
    db.session.flush()
    record(
        Action.USER_CREATE,
        Subject("user", user.id),
        actor=actor,
        role=role,
        teams=[team.name for team in teams],
    )
    return user


def _account(user_id: uuid.UUID) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("user.not_found", "No such user.")
    return user


def _revoke_every_session(user: User, reason: str) -> int:
    """End every session of ``user`` (desk, API and tablet): their tokens stop working now."""
    sessions = db.session.scalars(
        select(AuthSession).where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
    ).all()
    for session in sessions:
        revoke_session(session, reason)
    db.session.flush()
    return len(sessions)


def _other_active_admins(user: User) -> int:
    """How many active admins besides ``user`` (their rows locked, so two admins demoting each
    other at once cannot leave none).
    """
    others = db.session.scalars(
        select(User.id)
        .where(User.role == "admin", User.active.is_(True), User.id != user.id)
        .with_for_update()
    ).all()
    return len(others)


def _keep_an_admin(user: User, what: str) -> None:
    if user.role == "admin" and user.active and not _other_active_admins(user):
        raise Conflict("user.last_admin", f"{what}: this is the last active admin.")


def disable_user(actor: User | None, user_id: uuid.UUID) -> User:
    """Disable an account: it cannot sign in, and every session and device token ends at once.

    An admin cannot disable themselves, and the last active admin stays.
    """
    user = _account(user_id)
    if actor is not None and user.id == actor.id:
        raise Conflict("user.cannot_disable_self", "You cannot disable your own account.")
    _keep_an_admin(user, "Not disabled")
    ended = _revoke_every_session(user, "user_disabled")
    if user.active:
        user.active = False
        db.session.flush()
        record(Action.USER_DISABLE, Subject("user", user.id), actor=actor, sessions_ended=ended)
    return user


def enable_user(actor: User | None, user_id: uuid.UUID) -> User:
    """Re-enable a disabled account; it signs in afresh (its old sessions stay ended)."""
    user = _account(user_id)
    if not user.active:
        user.active = True
        db.session.flush()
        record(Action.USER_ENABLE, Subject("user", user.id), actor=actor)
    return user


def reset_password(actor: User | None, user_id: uuid.UUID, password: str) -> User:
    """Set a new password meeting the rule; every session of the account ends at once, and the
    username's failed sign-ins are forgotten.
    """
    user = _account(user_id)
    if user.password_hash is None:
        raise Conflict(
            "user.no_local_password",
            "This account signs in through the council's identity provider; it has no password "
            "here.",
        )
    problems = password_problems(user.username, password)
    if problems:
        raise _refused({"password": problems})
    user.password_hash = hash_password(password)
    # The person can sign in with it at once, even if guesses had locked their username.
    throttle.forget(user.username)
    ended = _revoke_every_session(user, "password_reset")
    record(Action.PASSWORD_RESET, Subject("user", user.id), actor=actor, sessions_ended=ended)
    return user


def change_role_and_teams(
    actor: User | None, user_id: uuid.UUID, role: str, team_names: Iterable[str]
) -> User:
    """Give an account another role or other teams (what it may see follows at once).

    The last active admin keeps the admin role.
    """
    user = _account(user_id)
    errors: dict[str, list[str]] = {}
    _check_role(role, errors)
    teams = _teams_named(team_names, errors)
    if errors:
        raise _refused(errors)
    if role != "admin":
        _keep_an_admin(user, "The role was not changed")
    before = {"role": user.role, "teams": sorted(team.name for team in user.teams)}
    after = {"role": role, "teams": [team.name for team in teams]}
    changed = [field for field in before if before[field] != after[field]]
    if changed:
        user.role = role
        user.teams = teams
        db.session.flush()
        record(
            Action.USER_UPDATE,
            Subject("user", user.id),
            actor=actor,
            changed_fields=changed,
            before=before,
            after=after,
        )
    return user
