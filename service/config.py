"""Configuration: defaults overridden from the environment, with typed parsing that rejects junk.

Every setting is read once, at start-up, by :func:`load_settings`. A value that does not parse
stops the service with a message naming the variable, rather than running half-configured.
"""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEMO_SECRET = "demo-secret-change-me-in-production"  # noqa: S105 - the known demo value, refused in production
ENVIRONMENTS = ("development", "testing", "production")
# A photo or drawing declaring more pixels than this in its header is refused before decoding.
MAX_IMAGE_PIXELS = 50_000_000
EVIDENCE_MAX_MB = {"photo": 25, "drawing": 25, "audio": 200, "video": 2048, "document": 50}


class ConfigError(ValueError):
    """A setting from the environment is missing or malformed."""


def _env_str(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def _env_int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _env_choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _env_str(env, name, default)
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _env_timezone(env: Mapping[str, str], name: str, default: str) -> str:
    value = _env_str(env, name, default)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{name} must be an IANA time zone such as Europe/London, got {value!r}"
        ) from None
    return value


def _env_url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    parsed = urlparse(raw)
    if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
        raise ConfigError(f"{name} must be a URL starting with {' or '.join(schemes)}://")
    return raw


def _env_list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _env_mapping(env: Mapping[str, str], name: str) -> dict[str, str]:
    """Parse ``a=b,c=d`` into a dict."""
    raw = env.get(name, "").strip()
    result: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"{name} must look like claim_value=role,..., got {pair!r}")
        result[key.strip()] = value.strip()
    return result


def database_url(raw: str | None, instance_path: Path) -> str:
    """Turn ``DATABASE_URL`` into a SQLAlchemy URL, defaulting to the embedded SQLite file."""
    if not raw:
        return f"sqlite:///{instance_path / 'seen_and_heard.db'}"
    scheme = raw.split("://", 1)[0]
    if scheme in ("postgres", "postgresql"):
        return "postgresql+psycopg://" + raw.split("://", 1)[1]
    if scheme in ("postgresql+psycopg", "sqlite"):
        return raw
    raise ConfigError("DATABASE_URL must be a postgresql:// or sqlite:/// URL")


def _check_rate_limit(name: str, value: str) -> None:
    """Refuse a rate limit the limiter could not read (it would fail at the first sign-in)."""
    from limits import parse_many

    try:
        parsed = parse_many(value)
    except ValueError:
        parsed = []
    if not parsed or any(item.amount < 1 for item in parsed):
        raise ConfigError(f"{name} must look like '60 per minute;600 per hour', got {value!r}")


def _public_base_url(env: Mapping[str, str]) -> str | None:
    raw = _env_url(env, "PUBLIC_BASE_URL", ("https", "http"))
    if raw is None:
        return None
    parsed = urlparse(raw)
    if not parsed.hostname or parsed.query or parsed.fragment:
        raise ConfigError("PUBLIC_BASE_URL must be like https://visits.council.gov.uk")
    return raw.rstrip("/")


def _rate_limit_storage(env: Mapping[str, str]) -> str:
    raw = _env_str(env, "RATELIMIT_STORAGE_URI", "memory://")
    if raw == "memory://":
        return raw
    parsed = urlparse(raw)
    try:
        well_formed = int(parsed.path.strip("/") or 0) >= 0 and (parsed.port or 1) > 0
    except ValueError:  # a database or port that is not a number
        well_formed = False
    if parsed.scheme not in ("redis", "rediss") or not parsed.hostname or not well_formed:
        raise ConfigError(
            "RATELIMIT_STORAGE_URI must be memory:// or redis://host:port/db (rediss:// for TLS)"
        )
    return raw


_KEY_PREFIX = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def _key_prefix(env: Mapping[str, str]) -> str:
    value = _env_str(env, "RATELIMIT_KEY_PREFIX", "seen-heard")
    if not _KEY_PREFIX.fullmatch(value):
        raise ConfigError("RATELIMIT_KEY_PREFIX must be 1 to 64 letters, digits or . _ : -")
    return value


_INTERVAL = re.compile(r"^(\d{1,3})(wd|d|w|m)$")


def _evidence_store(env: Mapping[str, str], instance_path: Path) -> str:
    raw = _env_str(env, "EVIDENCE_STORE", f"file://{instance_path / 'evidence'}")
    parsed = urlparse(raw)
    if parsed.scheme == "file" and (parsed.netloc or parsed.path):
        return raw
    if parsed.scheme == "s3" and parsed.netloc:
        return raw
    raise ConfigError("EVIDENCE_STORE must be file:///path or s3://bucket/prefix")


def _check_timescales(overrides: object) -> dict[str, dict[str, str]]:
    if not isinstance(overrides, dict):
        raise ConfigError("TIMESCALES must be a JSON object keyed by plan type")
    allowed = {"first", "every", "after_first_year"}
    for plan, rule in overrides.items():
        if not isinstance(rule, dict) or not rule or set(rule) - allowed:
            raise ConfigError(f"TIMESCALES[{plan!r}] must use only the keys {sorted(allowed)}")
        for key, interval in rule.items():
            if not isinstance(interval, str) or not _INTERVAL.match(interval):
                raise ConfigError(
                    f"TIMESCALES[{plan!r}][{key!r}] must look like 10wd, 7d, 6w or 3m"
                )
        if "every" not in rule:
            raise ConfigError(f"TIMESCALES[{plan!r}] needs an 'every' interval")
    return overrides


def _signing_key(env: Mapping[str, str]) -> str | None:
    raw = env.get("AUDIT_SIGNING_KEY", "").strip()
    if not raw:
        return None
    try:
        seed = base64.b64decode(raw, validate=True)
    except ValueError:
        seed = b""
    if len(seed) != 32:
        raise ConfigError("AUDIT_SIGNING_KEY must be base64 of 32 random bytes (an Ed25519 seed)")
    return raw


def _anchor_store(env: Mapping[str, str]) -> str | None:
    raw = env.get("AUDIT_ANCHOR_STORE", "").strip()
    if raw and not raw.startswith(("s3://", "file://")):
        raise ConfigError("AUDIT_ANCHOR_STORE must be file:///path or s3://bucket/prefix")
    return raw or None


def _working_hours(env: Mapping[str, str]) -> tuple[int, int]:
    raw = env.get("AUDIT_WORKING_HOURS", "").strip()
    if not raw:
        return (7, 19)
    match = re.fullmatch(r"(\d{1,2})-(\d{1,2})", raw)
    if not match or not 0 <= int(match[1]) < int(match[2]) <= 24:
        raise ConfigError("AUDIT_WORKING_HOURS must be like 7-19 (start and end hour, local time)")
    return (int(match[1]), int(match[2]))


_EMAIL = re.compile(r"[^@\s,;<>\"]{1,64}@[A-Za-z0-9.-]{1,252}\.[A-Za-z]{2,63}")
_TEMPLATE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NOTIFY_BASE_URL = "https://api.notifications.service.gov.uk"


def email_address(name: str, value: str) -> str:
    """``value`` if it looks like an email address; ConfigError naming ``name`` otherwise."""
    if not _EMAIL.fullmatch(value):
        raise ConfigError(f"{name} must be email addresses like duty@council.gov.uk")
    return value


_SMTP_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")


def _smtp_host(netloc: str) -> str:
    """The host as written in ``user:password@host:port`` (an IPv6 address in brackets)."""
    host = netloc.rpartition("@")[2]
    return host.partition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]


def _smtp_url(env: Mapping[str, str]) -> str | None:
    """``smtp://[user:password@]host[:port]``; the message never repeats the password."""
    raw = env.get("ALERTS_SMTP_URL", "").strip()
    if not raw:
        return None
    try:
        parsed = urlparse(raw)
        port = parsed.port
        hostname = parsed.hostname
    except ValueError:  # a bracketed host that is no address, a port that is no number
        parsed, port, hostname = None, None, None
    if (
        parsed is None
        or any(character.isspace() for character in raw)
        or parsed.scheme not in ("smtp", "smtps")
        or not hostname
        or not _SMTP_HOST.fullmatch(_smtp_host(parsed.netloc))
        or port == 0
        or parsed.path not in ("", "/")
        or parsed.query
        or parsed.fragment
        or bool(parsed.username) != bool(parsed.password)
    ):
        raise ConfigError(
            "ALERTS_SMTP_URL must look like smtp://user:password@host:587 (STARTTLS), "
            "smtps://user:password@host:465 or smtp://127.0.0.1:1025 (a local relay)"
        )
    return raw


def _ca_file(env: Mapping[str, str]) -> str | None:
    raw = env.get("ALERTS_SMTP_CA_FILE", "").strip()
    if not raw:
        return None
    try:
        ssl.create_default_context(cafile=raw)
    except (OSError, ssl.SSLError):  # missing, unreadable, or no certificate in it
        raise ConfigError(
            "ALERTS_SMTP_CA_FILE must be the path of a PEM file of CA certificates"
        ) from None
    return raw


def _notify_key(env: Mapping[str, str]) -> str | None:
    raw = env.get("NOTIFY_API_KEY", "").strip()
    if not raw:
        return None
    # {key name}-{service id}-{secret}: the last two are UUIDs (GOV.UK Notify's format).
    if len(raw) < 74 or not _TEMPLATE_ID.fullmatch(raw[-73:-37]) or raw[-74] != "-":
        raise ConfigError("NOTIFY_API_KEY must be a GOV.UK Notify API key (name-service-secret)")
    return raw


def _template_id(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip().lower()
    if raw and not _TEMPLATE_ID.fullmatch(raw):
        raise ConfigError(f"{name} must be a GOV.UK Notify template id (a UUID)")
    return raw or None


def _alert_kinds(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    from service.alerts.kinds import KINDS, URGENT_FEEDBACK

    chosen = _env_list(env, name, default)
    unknown = set(chosen) - set(KINDS)
    if unknown:
        raise ConfigError(f"{name} must name alert kinds ({', '.join(KINDS)})")
    # An urgent care leaver is never something a person may switch off.
    return tuple(dict.fromkeys((URGENT_FEEDBACK, *chosen)))


def _hours(env: Mapping[str, str], name: str) -> tuple[int, int] | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    match = re.fullmatch(r"(\d{1,2})-(\d{1,2})", raw)
    if (
        not match
        or not (0 <= int(match[1]) <= 23 and 0 <= int(match[2]) <= 23)
        or (match[1] == match[2])
    ):
        raise ConfigError(f"{name} must be like 20-7 (from and to hour, local time)")
    return (int(match[1]), int(match[2]))


@dataclass(frozen=True)
class Settings:
    """The service's settings; field names are the Flask config keys they become."""

    ENVIRONMENT: str = "development"
    SECRET_KEY: str = DEMO_SECRET
    SQLALCHEMY_DATABASE_URI: str = "sqlite://"
    # How long a request waits for one answer from the database (or SQLite for a lock), and to
    # connect; longer is a 503 (service/database.py).
    DATABASE_TIMEOUT_SECONDS: int = 10
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


def _check_alerts(settings: Settings) -> None:
    if settings.ALERTS_SMTP_URL and settings.NOTIFY_API_KEY:
        raise ConfigError("set ALERTS_SMTP_URL or NOTIFY_API_KEY for alerts, not both")
    if settings.ALERTS_SMTP_URL and not settings.ALERTS_FROM:
        raise ConfigError("ALERTS_SMTP_URL needs ALERTS_FROM (the address alerts come from)")
    if settings.NOTIFY_API_KEY and not settings.NOTIFY_TEMPLATE_ID:
        raise ConfigError("NOTIFY_API_KEY needs NOTIFY_TEMPLATE_ID")
    insecure_notify = not settings.NOTIFY_BASE_URL.startswith("https://")
    if settings.ENVIRONMENT == "production" and settings.NOTIFY_API_KEY and insecure_notify:
        raise ConfigError("NOTIFY_BASE_URL must be https:// in production")
    slowest = 2 * settings.ALERTS_SMTP_TIMEOUT_SECONDS
    if (settings.ALERTS_SMTP_URL or settings.NOTIFY_API_KEY) and slowest >= (
        settings.OUTBOX_LEASE_SECONDS
    ):
        raise ConfigError(
            "OUTBOX_LEASE_SECONDS must be more than twice ALERTS_SMTP_TIMEOUT_SECONDS"
        )


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
