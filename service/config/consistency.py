"""Checks across settings, made once they are all read (production's demands among them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.config.alerts import _check_alerts
from service.config.reading import ConfigError
from service.config.values import DEMO_SECRET, _check_rate_limit

if TYPE_CHECKING:
    from service.config.settings import Settings


def _check_consistency(settings: Settings) -> None:
    if settings.ENVIRONMENT == "production":
        if DEMO_SECRET in (settings.SECRET_KEY, settings.JWT_SECRET):
            raise ConfigError("refusing to start in production with the demo SECRET_KEY/JWT_SECRET")
        if len(settings.JWT_SECRET) < 32:
            raise ConfigError("JWT_SECRET must be at least 32 characters in production")
        if not settings.SESSION_COOKIE_SECURE:
            raise ConfigError(
                "SESSION_COOKIE_SECURE must be on in production (serve the pages over HTTPS)"
            )
        if not settings.AUDIT_SIGNING_KEY:
            raise ConfigError(
                "AUDIT_SIGNING_KEY is required in production (the audit anchors' key)"
            )
        if settings.RATELIMIT_STORAGE_URI == "memory://":
            # Each worker would count alone: with 4 workers an address gets 4 times its budget.
            raise ConfigError(
                "RATELIMIT_STORAGE_URI must be redis:// in production, so every worker and "
                "instance shares the sign-in limits"
            )
        if not (settings.PUBLIC_BASE_URL or "").startswith("https://"):
            raise ConfigError(
                "PUBLIC_BASE_URL is required in production: the https:// address people open "
                "the links we send at"
            )
    anchor_store = settings.AUDIT_ANCHOR_STORE or settings.EVIDENCE_STORE
    if settings.AUDIT_ANCHOR_LOCK_DAYS and not anchor_store.startswith("s3://"):
        raise ConfigError("AUDIT_ANCHOR_LOCK_DAYS needs an s3:// anchor store with Object Lock")
    if settings.JWT_JWKS_URL and not (settings.JWT_OIDC_ISSUER and settings.JWT_OIDC_AUDIENCE):
        raise ConfigError("JWT_JWKS_URL needs JWT_OIDC_ISSUER and JWT_OIDC_AUDIENCE")
    if settings.JWT_OIDC_ISSUER == settings.JWT_ISSUER:
        raise ConfigError("JWT_OIDC_ISSUER must differ from JWT_ISSUER")
    if any(alg.upper().startswith("HS") or alg == "none" for alg in settings.JWT_OIDC_ALGORITHMS):
        raise ConfigError("JWT_OIDC_ALGORITHMS must be asymmetric (RS*, PS*, ES*)")
    for name in ("LOGIN_RATE_LIMIT", "LOGIN_ACCOUNT_RATE_LIMIT", "FEEDBACK_RATE_LIMIT"):
        _check_rate_limit(name, getattr(settings, name))
    _check_sign_in(settings)
    _check_core_system(settings)
    _check_evidence_store(settings)
    _check_alerts(settings)
    from service.timescales import PLAN_TYPES

    unknown_plans = set(settings.TIMESCALES) - set(PLAN_TYPES)
    if unknown_plans:
        raise ConfigError(f"TIMESCALES has unknown plan types: {', '.join(sorted(unknown_plans))}")


def _check_sign_in(settings: Settings) -> None:
    oidc = (settings.OIDC_ISSUER, settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET)
    if any(oidc) and not all(oidc):
        raise ConfigError("OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET go together")
    if not settings.OIDC_ISSUER:
        return
    if "openid" not in settings.OIDC_SCOPES.split():
        raise ConfigError("OIDC_SCOPES must include openid")
    if len(settings.OIDC_DISPLAY_NAME) > 80:
        raise ConfigError("OIDC_DISPLAY_NAME must be at most 80 characters")
    if settings.ENVIRONMENT == "production":
        for name in ("OIDC_ISSUER", "SERVICE_URL"):
            if not getattr(settings, name).startswith("https://"):
                raise ConfigError(f"{name} must be https:// in production")


def _check_evidence_store(settings: Settings) -> None:
    if bool(settings.S3_ACCESS_KEY_ID) != bool(settings.S3_SECRET_ACCESS_KEY):
        raise ConfigError("S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together")
    if settings.GUNICORN_TIMEOUT and settings.EVIDENCE_STORE.startswith("s3://"):
        from storage.s3 import worst_case_seconds

        worst = worst_case_seconds(
            settings.S3_CONNECT_TIMEOUT, settings.S3_READ_TIMEOUT, settings.S3_MAX_ATTEMPTS
        )
        if worst >= settings.GUNICORN_TIMEOUT:
            raise ConfigError(
                f"a hung evidence store could hold an upload {worst} s "
                f"(S3_MAX_ATTEMPTS x (S3_CONNECT_TIMEOUT + 1 + S3_READ_TIMEOUT), and clean-up), "
                f"not less than GUNICORN_TIMEOUT ({settings.GUNICORN_TIMEOUT} s): lower them"
            )


def _check_core_system(settings: Settings) -> None:
    oauth = (settings.CORE_SYSTEM_TOKEN_URL, settings.CORE_SYSTEM_CLIENT_ID)
    if any(oauth) and not all((*oauth, settings.CORE_SYSTEM_CLIENT_SECRET)):
        raise ConfigError(
            "CORE_SYSTEM_TOKEN_URL, CORE_SYSTEM_CLIENT_ID and CORE_SYSTEM_CLIENT_SECRET go together"
        )
    if settings.CORE_SYSTEM_TOKEN and settings.CORE_SYSTEM_TOKEN_URL:
        raise ConfigError("set CORE_SYSTEM_TOKEN or OAuth2 client credentials, not both")
    if settings.CORE_SYSTEM_URL and not (
        settings.CORE_SYSTEM_TOKEN or settings.CORE_SYSTEM_TOKEN_URL
    ):
        raise ConfigError("CORE_SYSTEM_URL needs CORE_SYSTEM_TOKEN or OAuth2 client credentials")
    # A lease shorter than a token fetch plus a delivery would let a second worker resend
    # while the first is still waiting for its answer.
    slowest = 2 * (settings.CORE_SYSTEM_CONNECT_TIMEOUT + settings.CORE_SYSTEM_READ_TIMEOUT)
    if slowest >= settings.OUTBOX_LEASE_SECONDS:
        raise ConfigError(
            f"OUTBOX_LEASE_SECONDS must be more than {slowest} "
            "(twice the core system's connect and read timeouts)"
        )
    if settings.ENVIRONMENT == "production" and settings.CORE_SYSTEM_URL:
        for name in ("CORE_SYSTEM_URL", "CORE_SYSTEM_TOKEN_URL", "SERVICE_URL"):
            value = getattr(settings, name)
            if value and not value.startswith("https://"):
                raise ConfigError(f"{name} must be https:// in production")
    if settings.OUTBOX_BACKOFF_MAX_SECONDS < settings.OUTBOX_BACKOFF_SECONDS:
        raise ConfigError("OUTBOX_BACKOFF_MAX_SECONDS must be at least OUTBOX_BACKOFF_SECONDS")
    from service.core_system.mapping import MappingError, load_mapping

    try:
        load_mapping(settings.CORE_SYSTEM_MAPPING)
    except MappingError as error:
        raise ConfigError(f"CORE_SYSTEM_MAPPING: {error}") from None
