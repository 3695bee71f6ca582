"""Page sessions: a signed-in person at a desk, held in the Flask session cookie.

The cookie holds only the id of an :class:`AuthSession` (one without a device) and when the
person last did something. Every request checks the row, so signing out, an admin disabling the
account or revoking the session ends it at once, as it does for the API's tokens; a session idle
for longer than ``PAGES_IDLE_MINUTES`` ends too.
"""

from __future__ import annotations

import time
import uuid

from flask import current_app, g, session

from service.auth import sign_in_audit
from service.auth.models import AuthSession, User
from service.auth.operations import revoke_session
from service.extensions import db
from service.pages import NotSignedIn

SESSION_KEY = "desk_session"
LAST_SEEN_KEY = "desk_seen"


def begin(user: User, via: str) -> AuthSession:
    """Start a page session for ``user`` (after checking who they are, ``via`` the password form
    or the council's identity provider); the cookie is new, and the sign-in is audited.
    """
    started = AuthSession(user=user, device=None)
    db.session.add(started)
    db.session.flush()
    sign_in_audit.signed_in(user, started, via)
    session.clear()  # nothing from before signing in carries over
    session[SESSION_KEY] = str(started.id)
    session[LAST_SEEN_KEY] = int(time.time())
    g.auth_session_id = started.id
    return started


def _current() -> AuthSession | None:
    raw = session.get(SESSION_KEY)
    try:
        session_id = uuid.UUID(str(raw))
    except ValueError:
        return None
    return db.session.get(AuthSession, session_id)


def signed_in_user() -> User:
    """The user of this request's page session, or :class:`NotSignedIn` with the reason."""
    if SESSION_KEY not in session:
        raise NotSignedIn()
    current = _current()
    if current is None or current.device_id is not None:
        session.clear()
        raise NotSignedIn()
    if current.revoked_at is not None or not current.user.active:
        session.clear()
        raise NotSignedIn("revoked")
    idle_seconds = int(current_app.config["PAGES_IDLE_MINUTES"]) * 60
    last_seen = session.get(LAST_SEEN_KEY)
    now = int(time.time())
    if not isinstance(last_seen, int) or now - last_seen > idle_seconds:
        revoke_session(current, "idle_timeout")
        session.clear()
        raise NotSignedIn("timed_out")
    session[LAST_SEEN_KEY] = now
    g.auth_session_id = current.id
    return current.user


def end() -> None:
    """Sign out: the page session is revoked and the cookie emptied."""
    current = _current()
    if current is not None and current.device_id is None:
        if current.revoked_at is None:
            sign_in_audit.signed_out(current.user, current.id, "desk", 1)
        revoke_session(current, "signed_out")
    session.clear()
