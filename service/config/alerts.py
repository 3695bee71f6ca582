"""The alert settings: the SMTP relay or GOV.UK Notify, addresses, kinds and hours."""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from service.config.reading import ConfigError, _env_list

if TYPE_CHECKING:
    from service.config.settings import Settings

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
