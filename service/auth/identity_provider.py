"""Tokens from the council's identity provider: keys from its JWKS, roles mapped from a claim."""

from __future__ import annotations

from typing import Any

import jwt
from flask import current_app
from sqlalchemy import select

from service.auth.models import ROLES, User
from service.errors import Forbidden, ServiceUnavailable, Unauthorized
from service.extensions import db

# When a person holds several mapped roles, the one with the widest view wins.
ROLE_PRECEDENCE = ("manager", "supervisor", "social_worker", "admin")


def _jwks_client() -> jwt.PyJWKClient:
    client = current_app.extensions.get("jwks_client")
    if client is None:
        client = jwt.PyJWKClient(current_app.config["JWT_JWKS_URL"], cache_keys=True, timeout=5)
        current_app.extensions["jwks_client"] = client
    return client


def signing_key(token: str) -> Any:
    """Return the identity provider's public key for ``token`` (by its ``kid``)."""
    try:
        return _jwks_client().get_signing_key_from_jwt(token).key
    except jwt.PyJWKClientConnectionError:
        raise ServiceUnavailable(
            "auth.identity_provider_unavailable", "The council's sign-in service cannot be reached."
        ) from None
    except (jwt.PyJWKClientError, jwt.InvalidTokenError):
        raise Unauthorized("auth.invalid_token", "The access token is not valid.") from None


def mapped_role(claims: dict[str, Any]) -> str | None:
    """The service role for the identity provider's roles claim, via ``JWT_OIDC_ROLE_MAP``."""
    config = current_app.config
    raw = claims.get(config["JWT_OIDC_ROLES_CLAIM"], [])
    values = [raw] if isinstance(raw, str) else [v for v in raw if isinstance(v, str)]
    role_map: dict[str, str] = config["JWT_OIDC_ROLE_MAP"] or {role: role for role in ROLES}
    roles = {role_map[value] for value in values if value in role_map}
    return next((role for role in ROLE_PRECEDENCE if role in roles), None)


def provision_user(claims: dict[str, Any]) -> User:
    """Find (or create on first sign-in) the user a verified identity-provider token names."""
    username = claims.get(current_app.config["JWT_OIDC_USERNAME_CLAIM"])
    if not isinstance(username, str) or not 0 < len(username) <= 150:
        raise Unauthorized("auth.invalid_token", "The access token names no user.")
    role = mapped_role(claims)
    if role is None:
        raise Forbidden("auth.no_role", "Your account has no role in this service.")
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        display_name = claims.get("name") if isinstance(claims.get("name"), str) else username
        user = User(username=username, display_name=str(display_name)[:200], role=role)
        db.session.add(user)
        db.session.flush()
    elif not user.active:
        raise Unauthorized("auth.invalid_token", "The access token is not valid.")
    elif user.role != role:
        user.role = role
    return user
