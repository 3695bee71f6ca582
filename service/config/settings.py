"""The settings themselves (:class:`Settings`) and :func:`load_settings`, which reads them once."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from service.config.alerts import (
    NOTIFY_BASE_URL,
    _alert_kinds,
    _ca_file,
    _hours,
    _notify_key,
    _smtp_url,
    _template_id,
    email_address,
)
from service.config.consistency import _check_consistency
from service.config.reading import (
    ConfigError,
    _env_bool,
    _env_choice,
    _env_int,
    _env_list,
    _env_mapping,
    _env_str,
    _env_timezone,
    _env_url,
    database_url,
)
from service.config.values import (
    DEMO_SECRET,
    ENVIRONMENTS,
    EVIDENCE_MAX_MB,
    MAX_IMAGE_PIXELS,
    _anchor_store,
    _check_timescales,
    _evidence_store,
    _key_prefix,
    _public_base_url,
    _rate_limit_storage,
    _signing_key,
    _working_hours,
)


@dataclass(frozen=True)
class Settings:
    """The service's settings; field names are the Flask config keys they become."""

    ENVIRONMENT: str = "development"
    SECRET_KEY: str = DEMO_SECRET
    SQLALCHEMY_DATABASE_URI: str = "sqlite://"
    # How long a request waits for one answer from the database (or SQLite for a lock), and to
    # connect; longer is a 503 (service/database.py).
    DATABASE_TIMEOUT_SECONDS: int = 10
    # How long a CLI command waits for one answer from PostgreSQL before it stops (exit 1), and
    # the outbox worker before it drops the connection and retries (service/database.py).
    COMMAND_DATABASE_TIMEOUT_SECONDS: int = 300
    WORKER_DATABASE_TIMEOUT_SECONDS: int = 30
    # A pooled connection unused this long is checked with a round trip before it is used
    # (0: before every use). One in steady use is not: service/database.py says why.
    DATABASE_PING_AFTER_IDLE_SECONDS: int = 10
    # JSON request bodies; evidence uploads stream and have their own per-kind limits.
    MAX_CONTENT_LENGTH: int = 1024 * 1024
    JWT_SECRET: str = DEMO_SECRET
    JWT_ISSUER: str = "seen-and-heard"
    JWT_AUDIENCE: str = "seen-and-heard-api"
    JWT_ACCESS_TTL_SECONDS: int = 900
    JWT_REFRESH_TTL_DAYS: int = 30
    # A refresh retried within this many seconds gets the same pair again instead of revoking
    # the session as a reuse (a tablet whose answer was lost); 0 turns the grace off.
    JWT_REFRESH_GRACE_SECONDS: int = 30
    JWT_JWKS_URL: str | None = None
    # Fetching the JWKS: its timeout, and how often a token naming an unknown key may refetch it.
    JWT_JWKS_TIMEOUT_SECONDS: int = 5
    JWT_JWKS_REFRESH_SECONDS: int = 30
    JWT_OIDC_ISSUER: str | None = None
    JWT_OIDC_AUDIENCE: str | None = None
    JWT_OIDC_ALGORITHMS: tuple[str, ...] = ("RS256",)
    JWT_OIDC_ROLES_CLAIM: str = "roles"
    JWT_OIDC_USERNAME_CLAIM: str = "preferred_username"
    JWT_OIDC_ROLE_MAP: dict[str, str] = field(default_factory=dict)
    # "Sign in with <council>" on the desk pages: the council's OpenID provider (issuer, client
    # id and secret together, or none); roles and usernames come from the JWT_OIDC_* claims above.
    OIDC_ISSUER: str | None = None
    OIDC_CLIENT_ID: str | None = None
    OIDC_CLIENT_SECRET: str | None = None
    OIDC_DISPLAY_NAME: str = "your council"
    OIDC_SCOPES: str = "openid profile"
    OIDC_TIMEOUT_SECONDS: int = 10
    ARGON2_TIME_COST: int = 3
    ARGON2_MEMORY_COST_KIB: int = 65536
    # Sign-in limits (README "Sign-in limits"): per address, generous enough for an office behind
    # one address; and failed attempts per account, whatever address they come from.
    LOGIN_RATE_LIMIT: str = "60 per minute;600 per hour"
    LOGIN_ACCOUNT_RATE_LIMIT: str = "10 per 15 minutes;100 per day"
    # Where the counts live: memory:// (one process) or redis:// shared by every worker and
    # instance; every key starts with the prefix; a Redis call gives up after the timeout.
    RATELIMIT_STORAGE_URI: str = "memory://"
    RATELIMIT_KEY_PREFIX: str = "seen-heard"
    RATELIMIT_STORAGE_TIMEOUT_MS: int = 1000
    RATELIMIT_ENABLED: bool = True
    EVIDENCE_STORE: str = "file://instance/evidence"
    S3_ENDPOINT_URL: str | None = None
    S3_REGION: str = "eu-west-2"
    S3_ADDRESSING_STYLE: str = "auto"
    S3_SSE: str = "AES256"
    S3_KMS_KEY_ID: str | None = None
    # Keys for a store outside AWS (SeaweedFS, MinIO, Ceph); unset, boto3's own chain is used
    # (AWS_ACCESS_KEY_ID, a profile, an instance role).
    S3_ACCESS_KEY_ID: str | None = None
    S3_SECRET_ACCESS_KEY: str | None = None
    S3_CONNECT_TIMEOUT: int = 3
    S3_READ_TIMEOUT: int = 30
    S3_MAX_ATTEMPTS: int = 2
    # After a call to the store times out or cannot connect, fail fast this long (0: never).
    S3_FAIL_FAST_SECONDS: int = 15
    S3_PART_SIZE_MB: int = 8
    # gunicorn's --timeout, when the app is told it (`make run` exports it): start-up refuses S3
    # timeouts whose worst case outlasts it, since a hung store must be a 503, not a killed worker.
    GUNICORN_TIMEOUT: int | None = None
    PRESIGNED_URL_SECONDS: int = 60
    LATE_RECORDING_WORKING_DAYS: int = 2
    FEEDBACK_RATE_LIMIT: str = "10 per minute;60 per hour"
    SYNC_MAX_ITEMS: int = 200
    SYNC_MAX_BODY_MB: int = 16
    EVIDENCE_MAX_MB: dict[str, int] = field(default_factory=lambda: dict(EVIDENCE_MAX_MB))
    MAX_IMAGE_PIXELS: int = MAX_IMAGE_PIXELS
    CORE_SYSTEM_URL: str | None = None
    # A static bearer token, or OAuth2 client credentials (token URL, id, secret, scope).
    CORE_SYSTEM_TOKEN: str | None = None
    CORE_SYSTEM_TOKEN_URL: str | None = None
    CORE_SYSTEM_CLIENT_ID: str | None = None
    CORE_SYSTEM_CLIENT_SECRET: str | None = None
    CORE_SYSTEM_SCOPE: str | None = None
    CORE_SYSTEM_CONNECT_TIMEOUT: int = 5
    CORE_SYSTEM_READ_TIMEOUT: int = 20
    # A built-in mapping's name (ssd, lcs, mosaic, eclipse) or the path of a JSON mapping file.
    CORE_SYSTEM_MAPPING: str = "ssd"
    # Links to evidence in the payload are made from this address.
    SERVICE_URL: str = "http://127.0.0.1:5000"
    # Where people open the links we send (care leavers' feedback invites): never the request's
    # Host header, which a caller chooses. Required (https) in production; else SERVICE_URL.
    PUBLIC_BASE_URL: str | None = None
    OUTBOX_MAX_ATTEMPTS: int = 15
    OUTBOX_BACKOFF_SECONDS: int = 2
    OUTBOX_BACKOFF_MAX_SECONDS: int = 1800
    OUTBOX_BATCH_SIZE: int = 20
    OUTBOX_POLL_MS: int = 250
    # How long a worker holds a claimed message before another may take it (a worker that died).
    OUTBOX_LEASE_SECONDS: int = 120
    # The audit trail: how many hash chains, the anchors' Ed25519 key (base64 of 32 bytes), where
    # anchors go (default: the evidence store), their Object Lock retention, how often to anchor.
    AUDIT_CHAINS: int = 16
    AUDIT_SIGNING_KEY: str | None = None
    AUDIT_ANCHOR_STORE: str | None = None
    AUDIT_ANCHOR_LOCK_DAYS: int = 0
    AUDIT_ANCHOR_INTERVAL_SECONDS: int = 300
    # The unusual access report's rules.
    AUDIT_WORKING_HOURS: tuple[int, int] = (7, 19)
    AUDIT_HEAVY_READER_FACTOR: int = 5
    AUDIT_HEAVY_READER_MINIMUM: int = 30
    AUDIT_DORMANT_DAYS: int = 60
    TIMESCALES: dict[str, dict[str, str]] = field(default_factory=dict)
    # Retention periods in whole years (service/retention/periods.py).
    RETENTION_LOOKED_AFTER_AGE: int = 75
    RETENTION_CARE_LEAVER_YEARS: int = 75
    RETENTION_CHILD_PROTECTION_YEARS: int = 35
    RETENTION_CHILD_IN_NEED_AGE: int = 18
    RETENTION_CHILD_IN_NEED_YEARS: int = 3
    LOCAL_TIMEZONE: str = "Europe/London"
    # The desk pages' session cookie: signed with SECRET_KEY, never readable by scripts, sent on
    # same-site navigation only, Secure (HTTPS only) in production; idle time-out in minutes.
    PAGES_IDLE_MINUTES: int = 30
    SESSION_COOKIE_NAME: str = "seen_heard_desk"
    SESSION_COOKIE_HTTPONLY: bool = True
    SESSION_COOKIE_SAMESITE: str = "Lax"
    SESSION_COOKIE_SECURE: bool = False
    PAGE_SIZE_DEFAULT: int = 50
    PAGE_SIZE_MAX: int = 200
    DEMO_PASSWORD: str = "demo-password"  # noqa: S105 - documented demo sign-in password
    # Alerts (README "Alerts"): email through SMTP or GOV.UK Notify, or neither (in the
    # service only). The SMTP URL and the Notify key are secrets: never logged.
    ALERTS_SMTP_URL: str | None = None
    ALERTS_SMTP_TIMEOUT_SECONDS: int = 10
    # Extra CA certificates (PEM) to trust for the SMTP server's TLS, e.g. the council's own CA.
    ALERTS_SMTP_CA_FILE: str | None = None
    ALERTS_FROM: str | None = None
    ALERTS_URGENT_FEEDBACK_TO: tuple[str, ...] = ()
    NOTIFY_API_KEY: str | None = None
    NOTIFY_BASE_URL: str = NOTIFY_BASE_URL
    NOTIFY_TEMPLATE_ID: str | None = None
    NOTIFY_URGENT_TEMPLATE_ID: str | None = None
    # The daily digests are made at this hour (LOCAL_TIMEZONE); the worker looks this often.
    ALERTS_DIGEST_HOUR: int = 7
    ALERTS_SCAN_INTERVAL_SECONDS: int = 300
    REVIEW_WAIT_ALERT_WORKING_DAYS: int = 3
    # Kinds a person cannot switch off (urgent care leavers always among them).
    ALERTS_MANDATORY: tuple[str, ...] = ("urgent_feedback", "delivery_dead")
    # Hours (local) when only urgent alerts are emailed; the rest wait until the end.
    ALERTS_QUIET_HOURS: tuple[int, int] | None = None

    def as_flask_config(self) -> dict[str, Any]:
        """Return the settings as a dict for ``app.config``."""
        return asdict(self)


def load_settings(
    env: Mapping[str, str] | None = None,
    instance_path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings from the environment (``os.environ`` by default) and explicit overrides.

    Raises :class:`ConfigError` for a malformed value, and for production mode with the demo secret.
    """
    env = os.environ if env is None else env
    instance_path = instance_path or Path("instance").resolve()
    secret = _env_str(env, "SECRET_KEY", DEMO_SECRET)
    jwks_url = _env_url(env, "JWT_JWKS_URL", ("https", "http"))
    try:
        timescales = _check_timescales(json.loads(env.get("TIMESCALES", "") or "{}"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"TIMESCALES must be JSON: {exc.msg}") from None
    settings = Settings(
        ENVIRONMENT=_env_choice(env, "SEEN_HEARD_ENV", "development", ENVIRONMENTS),
        SECRET_KEY=secret,
        SQLALCHEMY_DATABASE_URI=database_url(env.get("DATABASE_URL", "").strip(), instance_path),
        DATABASE_TIMEOUT_SECONDS=_env_int(env, "DATABASE_TIMEOUT_SECONDS", 10, 2, 60),
        COMMAND_DATABASE_TIMEOUT_SECONDS=_env_int(
            env, "COMMAND_DATABASE_TIMEOUT_SECONDS", 300, 2, 86400
        ),
        WORKER_DATABASE_TIMEOUT_SECONDS=_env_int(
            env, "WORKER_DATABASE_TIMEOUT_SECONDS", 30, 2, 3600
        ),
        DATABASE_PING_AFTER_IDLE_SECONDS=_env_int(
            env, "DATABASE_PING_AFTER_IDLE_SECONDS", 10, 0, 3600
        ),
        JWT_SECRET=_env_str(env, "JWT_SECRET", secret),
        JWT_ISSUER=_env_str(env, "JWT_ISSUER", "seen-and-heard"),
        JWT_AUDIENCE=_env_str(env, "JWT_AUDIENCE", "seen-and-heard-api"),
        JWT_ACCESS_TTL_SECONDS=_env_int(env, "JWT_ACCESS_TTL_SECONDS", 900, 60, 3600),
        JWT_REFRESH_TTL_DAYS=_env_int(env, "JWT_REFRESH_TTL_DAYS", 30, 1, 365),
        JWT_REFRESH_GRACE_SECONDS=_env_int(env, "JWT_REFRESH_GRACE_SECONDS", 30, 0, 120),
        JWT_JWKS_URL=jwks_url,
        JWT_JWKS_TIMEOUT_SECONDS=_env_int(env, "JWT_JWKS_TIMEOUT_SECONDS", 5, 1, 30),
        JWT_JWKS_REFRESH_SECONDS=_env_int(env, "JWT_JWKS_REFRESH_SECONDS", 30, 1, 300),
        JWT_OIDC_ISSUER=env.get("JWT_OIDC_ISSUER", "").strip() or None,
        JWT_OIDC_AUDIENCE=env.get("JWT_OIDC_AUDIENCE", "").strip() or None,
        JWT_OIDC_ALGORITHMS=_env_list(env, "JWT_OIDC_ALGORITHMS", ("RS256",)),
        JWT_OIDC_ROLES_CLAIM=_env_str(env, "JWT_OIDC_ROLES_CLAIM", "roles"),
        JWT_OIDC_USERNAME_CLAIM=_env_str(env, "JWT_OIDC_USERNAME_CLAIM", "preferred_username"),
        JWT_OIDC_ROLE_MAP=_env_mapping(env, "JWT_OIDC_ROLE_MAP"),
        OIDC_ISSUER=_env_url(env, "OIDC_ISSUER", ("https", "http")),
        OIDC_CLIENT_ID=env.get("OIDC_CLIENT_ID", "").strip() or None,
        OIDC_CLIENT_SECRET=env.get("OIDC_CLIENT_SECRET", "").strip() or None,
        OIDC_DISPLAY_NAME=_env_str(env, "OIDC_DISPLAY_NAME", "your council"),
        OIDC_SCOPES=_env_str(env, "OIDC_SCOPES", "openid profile"),
        OIDC_TIMEOUT_SECONDS=_env_int(env, "OIDC_TIMEOUT_SECONDS", 10, 1, 60),
        ARGON2_TIME_COST=_env_int(env, "ARGON2_TIME_COST", 3, 1, 20),
        ARGON2_MEMORY_COST_KIB=_env_int(env, "ARGON2_MEMORY_COST_KIB", 65536, 1024, 1048576),
        LOGIN_RATE_LIMIT=_env_str(env, "LOGIN_RATE_LIMIT", "60 per minute;600 per hour"),
        LOGIN_ACCOUNT_RATE_LIMIT=_env_str(
            env, "LOGIN_ACCOUNT_RATE_LIMIT", "10 per 15 minutes;100 per day"
        ),
        RATELIMIT_STORAGE_URI=_rate_limit_storage(env),
        RATELIMIT_KEY_PREFIX=_key_prefix(env),
        RATELIMIT_STORAGE_TIMEOUT_MS=_env_int(env, "RATELIMIT_STORAGE_TIMEOUT_MS", 1000, 50, 10000),
        RATELIMIT_ENABLED=_env_bool(env, "RATELIMIT_ENABLED", True),
        EVIDENCE_STORE=_evidence_store(env, instance_path),
        S3_ENDPOINT_URL=_env_url(env, "S3_ENDPOINT_URL", ("https", "http")),
        S3_REGION=_env_str(env, "S3_REGION", "eu-west-2"),
        S3_ADDRESSING_STYLE=_env_choice(
            env, "S3_ADDRESSING_STYLE", "auto", ("auto", "path", "virtual")
        ),
        S3_SSE=_env_choice(env, "S3_SSE", "AES256", ("AES256", "aws:kms", "none")),
        S3_KMS_KEY_ID=env.get("S3_KMS_KEY_ID", "").strip() or None,
        S3_ACCESS_KEY_ID=env.get("S3_ACCESS_KEY_ID", "").strip() or None,
        S3_SECRET_ACCESS_KEY=env.get("S3_SECRET_ACCESS_KEY", "").strip() or None,
        S3_CONNECT_TIMEOUT=_env_int(env, "S3_CONNECT_TIMEOUT", 3, 1, 60),
        S3_READ_TIMEOUT=_env_int(env, "S3_READ_TIMEOUT", 30, 1, 600),
        S3_MAX_ATTEMPTS=_env_int(env, "S3_MAX_ATTEMPTS", 2, 1, 10),
        S3_FAIL_FAST_SECONDS=_env_int(env, "S3_FAIL_FAST_SECONDS", 15, 0, 600),
        S3_PART_SIZE_MB=_env_int(env, "S3_PART_SIZE_MB", 8, 5, 512),
        GUNICORN_TIMEOUT=_env_int(env, "GUNICORN_TIMEOUT", 0, 0, 86400) or None,
        PRESIGNED_URL_SECONDS=_env_int(env, "PRESIGNED_URL_SECONDS", 60, 1, 60),
        SYNC_MAX_ITEMS=_env_int(env, "SYNC_MAX_ITEMS", 200, 1, 2000),
        LATE_RECORDING_WORKING_DAYS=_env_int(env, "LATE_RECORDING_WORKING_DAYS", 2, 0, 30),
        FEEDBACK_RATE_LIMIT=_env_str(env, "FEEDBACK_RATE_LIMIT", "10 per minute;60 per hour"),
        SYNC_MAX_BODY_MB=_env_int(env, "SYNC_MAX_BODY_MB", 16, 1, 256),
        EVIDENCE_MAX_MB={
            kind: _env_int(env, f"EVIDENCE_MAX_MB_{kind.upper()}", default, 1, 10240)
            for kind, default in EVIDENCE_MAX_MB.items()
        },
        MAX_IMAGE_PIXELS=_env_int(
            env, "MAX_IMAGE_PIXELS", MAX_IMAGE_PIXELS, 1_000_000, 500_000_000
        ),
        CORE_SYSTEM_URL=_env_url(env, "CORE_SYSTEM_URL", ("https", "http")),
        CORE_SYSTEM_TOKEN=env.get("CORE_SYSTEM_TOKEN", "").strip() or None,
        CORE_SYSTEM_TOKEN_URL=_env_url(env, "CORE_SYSTEM_TOKEN_URL", ("https", "http")),
        CORE_SYSTEM_CLIENT_ID=env.get("CORE_SYSTEM_CLIENT_ID", "").strip() or None,
        CORE_SYSTEM_CLIENT_SECRET=env.get("CORE_SYSTEM_CLIENT_SECRET", "").strip() or None,
        CORE_SYSTEM_SCOPE=env.get("CORE_SYSTEM_SCOPE", "").strip() or None,
        CORE_SYSTEM_CONNECT_TIMEOUT=_env_int(env, "CORE_SYSTEM_CONNECT_TIMEOUT", 5, 1, 60),
        CORE_SYSTEM_READ_TIMEOUT=_env_int(env, "CORE_SYSTEM_READ_TIMEOUT", 20, 1, 300),
        CORE_SYSTEM_MAPPING=_env_str(env, "CORE_SYSTEM_MAPPING", "ssd"),
        SERVICE_URL=_env_url(env, "SERVICE_URL", ("https", "http")) or "http://127.0.0.1:5000",
        PUBLIC_BASE_URL=_public_base_url(env),
        OUTBOX_MAX_ATTEMPTS=_env_int(env, "OUTBOX_MAX_ATTEMPTS", 15, 1, 100),
        OUTBOX_BACKOFF_SECONDS=_env_int(env, "OUTBOX_BACKOFF_SECONDS", 2, 1, 600),
        OUTBOX_BACKOFF_MAX_SECONDS=_env_int(env, "OUTBOX_BACKOFF_MAX_SECONDS", 1800, 1, 86400),
        OUTBOX_BATCH_SIZE=_env_int(env, "OUTBOX_BATCH_SIZE", 20, 1, 500),
        OUTBOX_POLL_MS=_env_int(env, "OUTBOX_POLL_MS", 250, 10, 60000),
        OUTBOX_LEASE_SECONDS=_env_int(env, "OUTBOX_LEASE_SECONDS", 120, 5, 86400),
        AUDIT_CHAINS=_env_int(env, "AUDIT_CHAINS", 16, 1, 1024),
        AUDIT_SIGNING_KEY=_signing_key(env),
        AUDIT_ANCHOR_STORE=_anchor_store(env),
        AUDIT_ANCHOR_LOCK_DAYS=_env_int(env, "AUDIT_ANCHOR_LOCK_DAYS", 0, 0, 36500),
        AUDIT_ANCHOR_INTERVAL_SECONDS=_env_int(env, "AUDIT_ANCHOR_INTERVAL_SECONDS", 300, 5, 86400),
        AUDIT_WORKING_HOURS=_working_hours(env),
        AUDIT_HEAVY_READER_FACTOR=_env_int(env, "AUDIT_HEAVY_READER_FACTOR", 5, 2, 1000),
        AUDIT_HEAVY_READER_MINIMUM=_env_int(env, "AUDIT_HEAVY_READER_MINIMUM", 30, 1, 100000),
        AUDIT_DORMANT_DAYS=_env_int(env, "AUDIT_DORMANT_DAYS", 60, 1, 3650),
        TIMESCALES=timescales,
        RETENTION_LOOKED_AFTER_AGE=_env_int(env, "RETENTION_LOOKED_AFTER_AGE", 75, 18, 150),
        RETENTION_CARE_LEAVER_YEARS=_env_int(env, "RETENTION_CARE_LEAVER_YEARS", 75, 18, 150),
        RETENTION_CHILD_PROTECTION_YEARS=_env_int(
            env, "RETENTION_CHILD_PROTECTION_YEARS", 35, 1, 150
        ),
        RETENTION_CHILD_IN_NEED_AGE=_env_int(env, "RETENTION_CHILD_IN_NEED_AGE", 18, 0, 150),
        RETENTION_CHILD_IN_NEED_YEARS=_env_int(env, "RETENTION_CHILD_IN_NEED_YEARS", 3, 0, 150),
        LOCAL_TIMEZONE=_env_timezone(env, "LOCAL_TIMEZONE", "Europe/London"),
        PAGES_IDLE_MINUTES=_env_int(env, "PAGES_IDLE_MINUTES", 30, 1, 720),
        SESSION_COOKIE_SECURE=_env_bool(
            env, "SESSION_COOKIE_SECURE", env.get("SEEN_HEARD_ENV", "").strip() == "production"
        ),
        PAGE_SIZE_MAX=_env_int(env, "PAGE_SIZE_MAX", 200, 10, 1000),
        DEMO_PASSWORD=_env_str(env, "DEMO_PASSWORD", "demo-password"),
        ALERTS_SMTP_URL=_smtp_url(env),
        ALERTS_SMTP_TIMEOUT_SECONDS=_env_int(env, "ALERTS_SMTP_TIMEOUT_SECONDS", 10, 1, 60),
        ALERTS_SMTP_CA_FILE=_ca_file(env),
        ALERTS_FROM=(
            email_address("ALERTS_FROM", env["ALERTS_FROM"].strip())
            if env.get("ALERTS_FROM", "").strip()
            else None
        ),
        ALERTS_URGENT_FEEDBACK_TO=tuple(
            email_address("ALERTS_URGENT_FEEDBACK_TO", address)
            for address in _env_list(env, "ALERTS_URGENT_FEEDBACK_TO", ())
        ),
        NOTIFY_API_KEY=_notify_key(env),
        NOTIFY_BASE_URL=(
            _env_url(env, "NOTIFY_BASE_URL", ("https", "http")) or NOTIFY_BASE_URL
        ).rstrip("/"),
        NOTIFY_TEMPLATE_ID=_template_id(env, "NOTIFY_TEMPLATE_ID"),
        NOTIFY_URGENT_TEMPLATE_ID=_template_id(env, "NOTIFY_URGENT_TEMPLATE_ID"),
        ALERTS_DIGEST_HOUR=_env_int(env, "ALERTS_DIGEST_HOUR", 7, 0, 23),
        ALERTS_SCAN_INTERVAL_SECONDS=_env_int(env, "ALERTS_SCAN_INTERVAL_SECONDS", 300, 5, 86400),
        REVIEW_WAIT_ALERT_WORKING_DAYS=_env_int(env, "REVIEW_WAIT_ALERT_WORKING_DAYS", 3, 1, 60),
        ALERTS_MANDATORY=_alert_kinds(
            env, "ALERTS_MANDATORY", ("urgent_feedback", "delivery_dead")
        ),
        ALERTS_QUIET_HOURS=_hours(env, "ALERTS_QUIET_HOURS"),
    )
    if overrides:
        unknown = set(overrides) - set(Settings.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        settings = Settings(**{**asdict(settings), **overrides})
    _check_consistency(settings)
    return settings
