"""Talking to the council's core case system: one interface, two implementations.

:class:`LocalRegistry` is the embedded default: cases come from ``flask cases import`` and a
delivery is recorded in this service's own database. :class:`HttpCoreSystem` speaks the
versioned JSON contract (README, "The core case system") to the council's adapter or middleware
at ``CORE_SYSTEM_URL``, with a static bearer token or OAuth2 client credentials, and bounded
connect and read timeouts. A refusal is a :class:`DeliveryFailed` saying whether it is worth
trying again.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import quote

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service.core_system.models import LocalDelivery
from service.extensions import db

# 4xx answers that may succeed later unchanged: the rest mean "never, as sent".
RETRYABLE_4XX = frozenset({401, 403, 408, 425, 429})
# An error code from the core system is shown to admins only if it looks like a code
# ("invalid_person_ref"): words joined by _ . or :, never one bare word, which could be a name.
ERROR_CODE = re.compile(r"^[A-Za-z0-9]+(?:[_.:][A-Za-z0-9]+)+$")
CONTRACT_VERSION = "1"


@dataclass(frozen=True)
class Delivered:
    """The core system holds the message: its reference for the case note (if it gave one)."""

    reference: str | None
    replay: bool = False


@dataclass(frozen=True)
class HeldRecord:
    """What the core system holds for one of our visits."""

    version: int | None
    reference: str | None
    payload: dict[str, Any] | None


class DeliveryFailed(Exception):
    """The core system did not take the message. Never carries the payload or its content."""

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class CoreSystem(Protocol):
    """What the service needs of a core case system."""

    name: str

    def find_case(self, core_ref: str) -> dict[str, Any] | None:
        """The case with this core reference and its children, or None if it has none."""

    def deliver(self, key: str, payload: dict[str, Any]) -> Delivered:
        """Deliver one approved version; the same ``key`` again must be harmless."""

    def read_back(self, visit_id: str) -> HeldRecord | None:
        """The latest version the core system holds for our visit, or None."""


class LocalRegistry:
    """The embedded default: deliveries are rows in this database, written in the caller's
    transaction, so the delivery and the outbox's "delivered" commit together.
    """

    name = "local"

    def find_case(self, core_ref: str) -> dict[str, Any] | None:
        """Cases are imported locally: nothing more to find than what is already here."""
        return None

    def deliver(self, key: str, payload: dict[str, Any]) -> Delivered:
        """Record the delivery (once per key)."""
        held = db.session.scalar(select(LocalDelivery).where(LocalDelivery.idempotency_key == key))
        if held is not None:
            return Delivered(held.reference, replay=True)
        reference = payload["external_reference"]
        delivery = LocalDelivery(
            idempotency_key=key,
            visit_id=uuid.UUID(reference["visit_id"]),
            version_number=reference["version"],
            payload=payload,
        )
        try:
            with db.session.begin_nested():
                db.session.add(delivery)
        except IntegrityError:
            held = db.session.scalar(
                select(LocalDelivery).where(LocalDelivery.idempotency_key == key)
            )
            assert held is not None  # noqa: S101 - the row whose key collided
            return Delivered(held.reference, replay=True)
        return Delivered(delivery.reference)

    def read_back(self, visit_id: str) -> HeldRecord | None:
        """The latest delivery recorded for the visit."""
        held = db.session.scalar(
            select(LocalDelivery)
            .where(LocalDelivery.visit_id == uuid.UUID(visit_id))
            .order_by(LocalDelivery.version_number.desc())
            .limit(1)
        )
        if held is None:
            return None
        return HeldRecord(held.version_number, held.reference, held.payload)


class HttpCoreSystem:
    """The council's adapter over HTTP: ``POST /visits``, ``GET /visits/{id}``,
    ``GET /cases/{core_ref}``. One session per process, reused; thread-safe token refresh.
    """

    name = "http"

    def __init__(self, config: Any) -> None:
        self.base = config["CORE_SYSTEM_URL"].rstrip("/")
        self.timeout = (config["CORE_SYSTEM_CONNECT_TIMEOUT"], config["CORE_SYSTEM_READ_TIMEOUT"])
        self.token_url = config["CORE_SYSTEM_TOKEN_URL"]
        self.lock = threading.Lock()
        self.session: requests.Session
        if self.token_url:
            self.session = OAuth2Session(
                client_id=config["CORE_SYSTEM_CLIENT_ID"],
                client_secret=config["CORE_SYSTEM_CLIENT_SECRET"],
                scope=config["CORE_SYSTEM_SCOPE"],
                token_endpoint=self.token_url,
                grant_type="client_credentials",
                leeway=30,
                default_timeout=self.timeout,
            )
        else:
            self.session = requests.Session()
            self.session.headers["Authorization"] = f"Bearer {config['CORE_SYSTEM_TOKEN']}"
        self.session.headers["User-Agent"] = "seen-and-heard"
        self.session.headers["Accept"] = "application/json"

    def _fetch_token(self) -> None:
        assert isinstance(self.session, OAuth2Session)  # noqa: S101 - only with a token URL
        try:
            self.session.fetch_token(self.token_url, timeout=self.timeout)
        except AuthlibBaseError as error:  # e.g. invalid_client: the credentials are wrong
            raise DeliveryFailed(
                f"token endpoint refused the client: {_code(error.error) or 'no reason given'}",
                retryable=True,
            ) from None
        except requests.RequestException as error:
            raise DeliveryFailed(
                f"token endpoint unreachable: {type(error).__name__}", retryable=True
            ) from None

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send one request, fetching a token first if needed and once more after a 401."""
        for attempt in (1, 2):
            with self.lock:
                if self.token_url and (attempt == 2 or not self.session.token):  # type: ignore[attr-defined]
                    self._fetch_token()
            try:
                # No redirects: a token must never follow one to another address.
                response = self.session.request(
                    method,
                    f"{self.base}{path}",
                    timeout=self.timeout,
                    allow_redirects=False,
                    **kwargs,
                )
            except requests.RequestException as error:
                raise DeliveryFailed(
                    f"core system unreachable: {type(error).__name__}", retryable=True
                ) from None
            except AuthlibBaseError:  # the token expired and could not be renewed
                self.session.token = None  # type: ignore[attr-defined]
                continue
            if response.status_code != 401 or not self.token_url or attempt == 2:
                return response
        raise DeliveryFailed("no usable token from the token endpoint", retryable=True)

    def find_case(self, core_ref: str) -> dict[str, Any] | None:
        """``GET /cases/{core_ref}``: the case and its children, or None on 404."""
        if core_ref.strip(".") == "":  # "." and ".." would climb out of /cases/
            return None
        response = self._request("GET", f"/cases/{quote(core_ref, safe='')}")
        if response.status_code == 404:
            return None
        _raise_for(response)
        body = _json(response)
        return body if isinstance(body, dict) else None

    def deliver(self, key: str, payload: dict[str, Any]) -> Delivered:
        """``POST /visits`` with ``Idempotency-Key``; 201 new, 200 a replay of the same key."""
        response = self._request(
            "POST",
            "/visits",
            json=payload,
            headers={"Idempotency-Key": key, "Contract-Version": CONTRACT_VERSION},
        )
        _raise_for(response)
        body = _json(response)
        reference = body.get("reference") if isinstance(body, dict) else None
        if not isinstance(reference, (str, int)) or not str(reference).strip():
            # A login page or a proxy answers 200 too: without the contract's reference, the
            # core system has not said it holds the visit.
            raise DeliveryFailed(
                f"HTTP {response.status_code} from the core system without a reference",
                retryable=True,
                status=response.status_code,
            )
        return Delivered(str(reference)[:100], replay=response.status_code == 200)

    def read_back(self, visit_id: str) -> HeldRecord | None:
        """``GET /visits/{visit_id}``: the latest version held, or None on 404."""
        response = self._request("GET", f"/visits/{visit_id}")
        if response.status_code == 404:
            return None
        _raise_for(response)
        body = _json(response)
        if not isinstance(body, dict):
            raise DeliveryFailed(
                "core system answered a read-back without a JSON object", retryable=True
            )
        return HeldRecord(body.get("version"), body.get("reference"), body.get("body"))


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _code(value: Any) -> str | None:
    """An error code fit to show an admin, or None."""
    if isinstance(value, str) and len(value) <= 64 and ERROR_CODE.match(value):
        return value
    return None


def _raise_for(response: requests.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    body = _json(response)
    code = _code(body.get("error") or body.get("code")) if isinstance(body, dict) else None
    reason = f"HTTP {status} from the core system"
    if code:
        reason += f" ({code})"
    # A redirect or an authorisation problem is the set-up's, fixable without the message.
    retryable = status >= 500 or status < 400 or status in RETRYABLE_4XX
    raise DeliveryFailed(
        reason, retryable=retryable, status=status, retry_after=_retry_after(response)
    )


EXTENSION = "core_system"


def core_system() -> CoreSystem:
    """The core system this process talks to (built once per process)."""
    adapter: CoreSystem = current_app.extensions[EXTENSION]
    return adapter


def init_app(app: Flask) -> None:
    """Choose the adapter: HTTP when ``CORE_SYSTEM_URL`` is set, the local registry otherwise."""
    adapter: CoreSystem = (
        HttpCoreSystem(app.config) if app.config["CORE_SYSTEM_URL"] else LocalRegistry()
    )
    app.extensions[EXTENSION] = adapter
