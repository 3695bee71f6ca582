"""Sending an alert by email: through an SMTP server, or through GOV.UK Notify.

The outbox worker (service/core_system/worker.py) calls :func:`send` for each alert message it
claims, and treats a :class:`DeliveryFailed` as it does the core system's: retried with backoff,
or a dead letter when it never will succeed. Neither a failure's reason nor a log line carries
an address, a password or an API key.
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import unquote, urlparse

from flask import current_app
from notifications_python_client import NotificationsAPIClient
from notifications_python_client.errors import APIError
from requests import RequestException

from service.alerts import kinds
from service.core_system.adapters import Delivered, DeliveryFailed
from service.core_system.worker import Claimed
from service.links import public_link

SMTP = "smtp"
NOTIFY = "notify"
SMTP_TLS_CONTEXT = "service.alerts.smtp_tls_context"
NOTIFY_CLIENT = "service.alerts.notify_client"


def channel(config: Any) -> str | None:
    """The channel the configuration chooses: ``smtp``, ``notify``, or None (in-service only)."""
    if config.get("ALERTS_SMTP_URL"):
        return SMTP
    if config.get("NOTIFY_API_KEY"):
        return NOTIFY
    return None


def send(message: Claimed) -> Delivered:
    """Send one alert email as the configuration says; raises DeliveryFailed."""
    config = current_app.config
    payload = message.payload
    kind, count = payload["kind"], int(payload["count"])
    link = public_link(payload["path"])
    chosen = channel(config)
    if chosen == SMTP:
        return _send_smtp(config, message.key, payload["to"], kind, count, link)
    if chosen == NOTIFY:
        return _send_notify(config, message.key, payload["to"], kind, count, link)
    raise DeliveryFailed("no alert channel is configured", retryable=True)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def email_message(sender: str, to: str, kind: str, count: int, link: str, key: str) -> EmailMessage:
    """The plain-text email for one alert (no HTML: nothing to track, nothing to render)."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = to
    email["Subject"] = kinds.subject(kind)
    email["Date"] = formatdate(localtime=False, usegmt=True)
    email["Message-ID"] = make_msgid(idstring=key.replace(":", "."), domain="seen-and-heard")
    email["Auto-Submitted"] = "auto-generated"
    if kind in kinds.URGENT_KINDS:
        email["Importance"] = "high"
    email.set_content(kinds.body(kind, count, link))
    return email


def _smtp_refusal(error: smtplib.SMTPException) -> DeliveryFailed:
    code = getattr(error, "smtp_code", None)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [answer[0] for answer in error.recipients.values()]
        code = min(codes) if codes else None
    if isinstance(error, smtplib.SMTPAuthenticationError):
        # Wrong credentials are put right by an admin; the message is not at fault.
        return DeliveryFailed("smtp: authentication refused", retryable=True, status=code)
    permanent = code is not None and 500 <= code < 600
    name = type(error).__name__
    return DeliveryFailed(
        f"smtp: {name}" + (f" {code}" if code else ""), retryable=not permanent, status=code
    )


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's CAs (and ``ca_file``'s): built once per process and file, then reused."""
    cached = current_app.extensions.get(SMTP_TLS_CONTEXT)
    if cached is None or cached[0] != ca_file:
        context = ssl.create_default_context(cafile=ca_file)
        if ca_file:
            context.load_default_certs()
        cached = (ca_file, context)
        current_app.extensions[SMTP_TLS_CONTEXT] = cached
    return cached[1]


def _send_smtp(config: Any, key: str, to: str, kind: str, count: int, link: str) -> Delivered:
    url = urlparse(config["ALERTS_SMTP_URL"])
    host = url.hostname or ""
    implicit_tls = url.scheme == "smtps"
    port = url.port or (465 if implicit_tls else 25 if _is_loopback(host) else 587)
    timeout = config["ALERTS_SMTP_TIMEOUT_SECONDS"]
    email = email_message(config["ALERTS_FROM"], to, kind, count, link, key)
    # Off this machine, or with a password, never in the clear: STARTTLS, the certificate
    # checked against the system's CAs (and ALERTS_SMTP_CA_FILE's). Only a relay on loopback
    # without credentials is spoken to in plain text.
    needs_tls = not implicit_tls and (bool(url.username) or not _is_loopback(host))
    try:
        context = _tls_context(config["ALERTS_SMTP_CA_FILE"])
        server: smtplib.SMTP
        if implicit_tls:
            server = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
        with server:
            server.ehlo()
            if needs_tls:
                server.starttls(context=context)
                server.ehlo()
            if url.username:
                server.login(unquote(url.username), unquote(url.password or ""))
            server.send_message(email)
    except smtplib.SMTPException as error:
        raise _smtp_refusal(error) from None
    except (OSError, ssl.SSLError) as error:
        raise DeliveryFailed(
            f"smtp: cannot reach the server ({type(error).__name__})", retryable=True
        ) from None
    return Delivered(reference=None)


def _notify_client(config: Any) -> NotificationsAPIClient:
    """One client per process (and per key), reused: it keeps its HTTP connections."""
    cached = current_app.extensions.get(NOTIFY_CLIENT)
    wanted = (config["NOTIFY_API_KEY"], config["NOTIFY_BASE_URL"])
    if cached is None or cached[0] != wanted:
        client = NotificationsAPIClient(
            config["NOTIFY_API_KEY"],
            base_url=config["NOTIFY_BASE_URL"],
            timeout=config["ALERTS_SMTP_TIMEOUT_SECONDS"],
        )
        cached = (wanted, client)
        current_app.extensions[NOTIFY_CLIENT] = cached
    return cached[1]


def _send_notify(config: Any, key: str, to: str, kind: str, count: int, link: str) -> Delivered:
    template = config["NOTIFY_TEMPLATE_ID"]
    if kind in kinds.URGENT_KINDS and config["NOTIFY_URGENT_TEMPLATE_ID"]:
        template = config["NOTIFY_URGENT_TEMPLATE_ID"]
    try:
        answer = _notify_client(config).send_email_notification(
            email_address=to,
            template_id=template,
            # The template shows these: ((subject)), ((body)), ((link)).
            personalisation={
                "subject": kinds.subject(kind),
                "body": kinds.body(kind, count, link),
                "link": link,
            },
            reference=key,
        )
    except APIError as error:
        status = error.status_code
        retryable = status in (429, 401, 403) or status >= 500
        raise DeliveryFailed(f"notify: {status}", retryable=retryable, status=status) from None
    except RequestException as error:
        raise DeliveryFailed(
            f"notify: cannot reach the service ({type(error).__name__})", retryable=True
        ) from None
    reference = answer.get("id") if isinstance(answer, dict) else None
    return Delivered(reference=str(reference)[:100] if reference else None)
