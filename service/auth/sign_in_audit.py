"""Signing in and out in the audit trail: one event per sign-in, refusal, lock or sign-out.

Every event is about the account (``record_type`` ``user``, ``record_id`` its id), so
``GET /audit?record_type=user&record_id=...`` is a person's sign-in history. A refusal is written
even though its request rolls back (``keep_on_rollback``). Nothing typed is recorded: never a
password, and a username only as ``account_tag``, a short keyed digest (README "The audit
trail"). Token refreshes and per-request token checks are not recorded.
"""

from __future__ import annotations

import uuid

from flask import g

from service.audit.events import Action, Subject
from service.audit.trail import record
from service.auth.models import AuthSession, User
from service.auth.throttle import account_key

# Hex digits of the keyed username digest kept in the trail: enough to tell apart the names
# tried against one service, too few to confirm a guess at what was typed (it may have been a
# password typed into the username field), even by someone holding SECRET_KEY.
ACCOUNT_TAG_LENGTH = 8


def account_tag(username: str) -> str:
    """The username's short keyed digest, the same however it is typed (trim, case)."""
    return account_key(username)[:ACCOUNT_TAG_LENGTH]


def _note_device(session: AuthSession) -> None:
    """The session's tablet, for the event's ``device_id`` (the request has no token to say it)."""
    if session.device_id is not None:
        g.auth_device_id = session.device_id


def signed_in(user: User, session: AuthSession, via: str) -> None:
    """A sign-in that started ``session`` (``via`` ``api``, ``desk`` or ``oidc``)."""
    _note_device(session)
    record(
        Action.SIGN_IN,
        Subject("user", user.id),
        actor=user,
        via=via,
        session_id=str(session.id),
    )


def refused(action: Action, username: str, via: str, reason: str, user: User | None) -> None:
    """A sign-in refused (wrong password, unknown username, disabled account...) or locked
    (``SIGN_IN_LOCKED``): recorded though the request rolls back. No actor: nobody signed in.
    ``user`` is the account the typed ``username`` names (``sign_in.account_named``), if any.
    """
    record(
        action,
        Subject("user", user.id if user else None),
        actor=None,
        keep_on_rollback=True,
        via=via,
        reason=reason,
        account_tag=account_tag(username),
    )


def provider_refused(reason: str) -> None:
    """The council's identity provider vouched for someone this service will not let in."""
    record(
        Action.SIGN_IN_FAILED,
        Subject("user", None),
        actor=None,
        keep_on_rollback=True,
        via="oidc",
        reason=reason,
    )


def signed_out(user: User, session_id: uuid.UUID, via: str, sessions_ended: int) -> None:
    """The person signed out, ending ``sessions_ended`` sessions (a tablet's: all of its)."""
    record(
        Action.SIGN_OUT,
        Subject("user", user.id),
        actor=user,
        via=via,
        session_id=str(session_id),
        sessions_ended=sessions_ended,
    )


def refresh_token_reused(session: AuthSession) -> None:
    """A rotated refresh token came back after its grace: the session is revoked (it was
    copied). Its request commits the revocation, and this with it.
    """
    _note_device(session)
    record(
        Action.REFRESH_TOKEN_REUSE,
        Subject("user", session.user_id),
        actor=None,
        session_id=str(session.id),
    )
