"""Sign-in endpoints: token, refresh, logout, and who am I."""

from __future__ import annotations

from typing import Any

from flask import g

from api_schemas.auth import MeSchema, RefreshRequestSchema, TokenRequestSchema, TokenResponseSchema
from service.api import Blueprint
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
    429, description="Too many attempts from this address, or failed ones for this username"
)
@audit_exempt("signing in: no child data")
def issue_token(body: dict[str, Any]) -> operations.TokenPair:
    """Sign in with a username and password.

    Send ``device_id`` from a tablet so its tokens can be revoked if it is lost. Returns a
    short-lived access token and a refresh token. Rate limited per address, and failed
    attempts per username (429 `auth.account_locked`, the same for unknown usernames). Every
    sign-in, refused or locked ones too, is one event in the audit trail (never the password).
    """
    return operations.login(
        body["username"], body["password"], body["device_id"], body["device_name"]
    )


@blp.post("/auth/refresh")
@limiter.limit(login_rate_limit)
@blp.arguments(RefreshRequestSchema)
@blp.response(200, TokenResponseSchema)
@blp.alt_response(401, description="Invalid, expired, revoked or reused refresh token")
@audit_exempt("signing in: no child data")
def refresh_token(body: dict[str, Any]) -> operations.TokenPair:
    """Rotate a refresh token: the old one stops working and a new pair is returned.

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
