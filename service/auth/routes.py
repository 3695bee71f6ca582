"""Sign-in endpoints: token, refresh, logout, and who am I."""

from __future__ import annotations

from typing import Any

from flask import g

from api_schemas.auth import MeSchema, RefreshRequestSchema, TokenRequestSchema, TokenResponseSchema
from service.api import Blueprint, retry_after_headers
from service.audit.reads import audit_exempt
from service.auth import operations
from service.auth.models import User
from service.extensions import SIGN_IN_SCOPE, limiter, login_rate_limit

blp = Blueprint("auth", __name__, description="Sign in, rotate tokens, sign out.")


@blp.post("/auth/token")
# One budget per address for signing in, through the API or the desk pages' form.
@limiter.shared_limit(login_rate_limit, scope=SIGN_IN_SCOPE)
@blp.arguments(TokenRequestSchema)
@blp.response(200, TokenResponseSchema)
@blp.alt_response(401, description="Wrong username or password")
@blp.alt_response(
    429,
    description="Too many attempts from this address, or failed ones for this username",
    headers=retry_after_headers(),
)
@audit_exempt("signing in: no child data")
def issue_token(body: dict[str, Any]) -> operations.TokenPair:
    """Sign in with a username and password.

    Send ``device_id`` from a tablet so its tokens can be revoked if it is lost. The username is
    found in any mix of capitals, with spaces around it trimmed. Returns a short-lived access
    token and a refresh token. Rate limited per address, and failed attempts per username (429
    `auth.account_locked`, the same for unknown usernames; a sign-in the database could not
    answer, 503, takes no attempt). Each sign-in, refusal (401) and lock (429
    `auth.account_locked`) is one event in the audit trail (never the password); a per-address
    429, a body refused by validation (422) and a 503 are not recorded.
    """
    return operations.login(
        body["username"], body["password"], body["device_id"], body["device_name"]
    )


@blp.post("/auth/refresh")
@limiter.limit(login_rate_limit)
@blp.arguments(RefreshRequestSchema)
@blp.response(200, TokenResponseSchema)
@blp.alt_response(401, description="Invalid, expired, revoked or reused refresh token")
@blp.alt_response(
    429, description="Too many refreshes from this address", headers=retry_after_headers()
)
@audit_exempt("signing in: no child data")
def refresh_token(body: dict[str, Any]) -> operations.TokenPair:
    """Rotate a refresh token: the old one stops working and a new pair is returned.

    Rate limited per address, with a budget of its own the size of signing in's.

    Presenting a refresh token that was already rotated revokes the whole session, because it
    means the token was copied (an audit event, ``refresh_token_reuse``; rotations are not).
    """
    return operations.refresh(body["refresh_token"])


@blp.post("/auth/logout")
@blp.login_required()
@blp.response(204)
@audit_exempt("signing out: no child data")
def logout() -> None:
    """Sign out: revoke this session, and every session of this device if it has one (audited)."""
    operations.logout(g.user, g.get("auth_session_id"))


@blp.get("/me")
@blp.login_required()
@blp.response(200, MeSchema)
@audit_exempt("the caller's own account")
def me() -> User:
    """Who is signed in: name, role and teams."""
    return g.user
