"""Tokens from the council's identity provider: keys from its JWKS, roles mapped from a claim."""

from __future__ import annotations

from typing import Any

import jwt
from flask import current_app

from service.auth.models import ROLES, User
from service.auth.provider_keys import KeysUnavailable, ProviderKeys, UnknownKey
from service.auth.sign_in import account_named
from service.errors import Forbidden, ServiceUnavailable, Unauthorized
from service.extensions import db

# When a person holds several mapped roles, the one with the widest view wins.
ROLE_PRECEDENCE = ("manager", "supervisor", "social_worker", "admin")


def provider_keys() -> ProviderKeys:
    """The cache of the identity provider's keys, one per app in this process."""
    keys: ProviderKeys | None = current_app.extensions.get("provider_keys")
    if keys is None:
        config = current_app.config
        keys = current_app.extensions.setdefault(
            "provider_keys",
            ProviderKeys(
                config["JWT_JWKS_URL"],
                config["JWT_JWKS_TIMEOUT_SECONDS"],
                refresh_every=config["JWT_JWKS_REFRESH_SECONDS"],
            ),
        )
    return keys


def signing_key(token: str) -> Any:
    """Return the identity provider's public key for ``token`` (by its ``kid``).

    A key the provider does not publish is a 401; no key set to check against (the provider
    down, hung or answering junk, and nothing cached) is a 503 with ``Retry-After``.
    """
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        return provider_keys().key_for(kid)
    except KeysUnavailable as unavailable:
        raise ServiceUnavailable(
            "auth.identity_provider_unavailable",
            "The council's sign-in service cannot be reached.",
            retry_after=unavailable.retry_after,
        ) from None
    except (UnknownKey, jwt.InvalidTokenError):
        raise Unauthorized("auth.invalid_token", "The access token is not valid.") from None


def mapped_role(claims: dict[str, Any]) -> str | None:
    """The service role for the identity provider's roles claim, via ``JWT_OIDC_ROLE_MAP``."""
    config = current_app.config
    raw = claims.get(config["JWT_OIDC_ROLES_CLAIM"], [])
    values = [raw] if isinstance(raw, str) else [v for v in raw if isinstance(v, str)]
    role_map: dict[str, str] = config["JWT_OIDC_ROLE_MAP"] or {role: role for role in ROLES}
    roles = {role_map[value] for value in values if value in role_map}
    return next((role for role in ROLE_PRECEDENCE if role in roles), None)


class IdentityRefused(Exception):
    """The identity provider vouched for someone this service will not let in.

    ``reason`` is ``"no_username"`` (no usable username claim), ``"no_role"`` (no claim value
    maps to a role) or ``"inactive"`` (the local account is disabled). The API and the desk pages
    each say this in their own way (:func:`user_for_token`, ``service.auth.oidc_pages``).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def provision_user(claims: dict[str, Any]) -> User:
    """Find (or create on first sign-in) the active user verified identity-provider claims name.

    One rule for both ways in: an API bearer token and the desk pages' OpenID Connect sign-in.
    The account is found as sign-in finds one (:func:`account_named`: spaces around the claim
    trimmed, in any mix of capitals), so ``Sam.Supervisor`` from the provider is the local
    ``sam.supervisor``. The role is mapped afresh each time (a changed role claim changes the
    local role); a new user gets the trimmed claim as username and the claim's ``name``.
    Raises :class:`IdentityRefused`.
    """
    claimed = claims.get(current_app.config["JWT_OIDC_USERNAME_CLAIM"])
    username = claimed.strip() if isinstance(claimed, str) else ""
    if not 0 < len(username) <= 150:
        raise IdentityRefused("no_username")
    role = mapped_role(claims)
    if role is None:
        raise IdentityRefused("no_role")
    user = account_named(username)
    if user is None:
        display_name = claims.get("name") if isinstance(claims.get("name"), str) else username
        user = User(username=username, display_name=str(display_name)[:200], role=role)
        db.session.add(user)
        db.session.flush()
    elif not user.active:
        raise IdentityRefused("inactive")
    elif user.role != role:
        user.role = role
    return user


def user_for_token(claims: dict[str, Any]) -> User:
    """The user a verified bearer token from the identity provider names, for the API.

    No role is a 403 (``auth.no_role``); no username or a disabled account, a 401.
    """
    try:
        return provision_user(claims)
    except IdentityRefused as refused:
        if refused.reason == "no_role":
            raise Forbidden("auth.no_role", "Your account has no role in this service.") from None
        raise Unauthorized("auth.invalid_token", "The access token is not valid.") from None
