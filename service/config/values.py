"""Settings whose values need more than a type: URLs, stores, keys, limits, hours."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

from service.config.reading import ConfigError, _env_str, _env_url

DEMO_SECRET = "demo-secret-change-me-in-production"  # noqa: S105 - the known demo value, refused in production
ENVIRONMENTS = ("development", "testing", "production")
# A photo or drawing declaring more pixels than this in its header is refused before decoding.
MAX_IMAGE_PIXELS = 50_000_000
EVIDENCE_MAX_MB = {"photo": 25, "drawing": 25, "audio": 200, "video": 2048, "document": 50}


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
