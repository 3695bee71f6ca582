"""The council identity provider's signing keys, fetched from its JWKS and cached per process.

One fetch serves every request until the key set is :attr:`ProviderKeys.fresh_for` seconds old.
A token naming a key we do not hold (the provider rotated its keys) triggers a refetch, at most
once every :attr:`ProviderKeys.refresh_every` seconds, so a stream of made-up ``kid`` values
cannot turn us into a load generator against the provider. A failed fetch keeps the keys we
had and is not retried for :attr:`ProviderKeys.backoff` seconds: while the provider is down or
hung, requests whose key we hold go on being served, and the rest are answered 503 at once
instead of each waiting out the timeout. Only one thread fetches at a time; the others use the
keys they have, or wait for that one fetch when they have none.

PyJWT's ``PyJWKClient`` does part of this, but it forgets nothing it has cached per ``kid``
(a retired key would verify forever), retries a failing endpoint on every request and cannot
tell a bad token from a bad key set. Parsing and the key objects are PyJWT's (``PyJWKSet``).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

log = logging.getLogger(__name__)

MAX_JWKS_BYTES = 512 * 1024


class KeysUnavailable(Exception):
    """The key set cannot be had just now; ``retry_after`` is in whole seconds."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class UnknownKey(Exception):
    """The token names a key the provider does not publish (made up, or retired)."""


@dataclass(frozen=True)
class _KeySet:
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    fetched_at: float = -math.inf


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class ProviderKeys:
    """The signing keys published at ``url``, fetched with a ``timeout`` in seconds."""

    def __init__(
        self,
        url: str,
        timeout: float,
        *,
        fresh_for: float = 300,
        refresh_every: float = 30,
        backoff: float = 5,
        max_stale: float = 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.fresh_for = fresh_for
        self.refresh_every = refresh_every
        self.backoff = backoff
        self.max_stale = max_stale
        self.clock = clock
        self._set = _KeySet()
        self._last_attempt = -math.inf
        self._failing_until = -math.inf
        self._fetching = threading.Lock()
        self._opener = urllib.request.build_opener(_NoRedirect())

    def key_for(self, kid: str | None) -> Any:
        """The public key for ``kid``: raises :class:`UnknownKey` or :class:`KeysUnavailable`."""
        if not isinstance(kid, str) or not kid:
            raise UnknownKey("no kid")
        if self._should_fetch(kid):
            # Wait for a fetch under way only when there is nothing we could answer with.
            have_key = kid in self._usable().keys
            if self._fetching.acquire(blocking=False) or (
                not have_key and self._fetching.acquire(timeout=2 * self.timeout + 1)
            ):
                try:
                    if self._should_fetch(kid):
                        self._fetch()
                finally:
                    self._fetching.release()
        usable = self._usable()
        if kid in usable.keys:
            return usable.keys[kid].key
        if not usable.keys or self.clock() < self._failing_until:
            # Without a current key set, a new key cannot be told from a forged one.
            raise KeysUnavailable("no key set", self._retry_after())
        raise UnknownKey(kid)

    def check(self) -> bool:
        """Whether a usable key set is held or can be fetched now (for readiness)."""
        if self._should_fetch(None) and self._fetching.acquire(blocking=False):
            try:
                self._fetch()
            finally:
                self._fetching.release()
        return bool(self._usable().keys) and self.clock() >= self._failing_until

    def _usable(self) -> _KeySet:
        current = self._set
        if self.clock() - current.fetched_at > self.max_stale:
            return _KeySet()
        return current

    def _should_fetch(self, kid: str | None) -> bool:
        now = self.clock()
        if now < self._failing_until:
            return False
        current = self._set
        if now - current.fetched_at >= self.fresh_for:
            return True
        return (
            kid is not None
            and kid not in current.keys
            and (now - self._last_attempt >= self.refresh_every)
        )

    def _retry_after(self) -> int:
        remaining = self._failing_until - self.clock()
        return math.ceil(remaining) if remaining > 1 else 1

    def _fetch(self) -> None:
        self._last_attempt = self.clock()
        try:
            keys = self._download()
        except (OSError, ValueError, jwt.PyJWTError) as error:
            self._failing_until = self.clock() + self.backoff
            log.warning("identity provider keys not fetched: %s", type(error).__name__)
            return
        self._failing_until = -math.inf
        self._set = _KeySet(keys, self.clock())

    def _download(self) -> dict[str, jwt.PyJWK]:
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})  # noqa: S310 - http(s) only, checked in config
        with self._opener.open(request, timeout=self.timeout) as reply:
            body = reply.read(MAX_JWKS_BYTES + 1)
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError("key set too large")
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        keys = {
            key.key_id: key
            for key in jwt.PyJWKSet.from_dict(document).keys
            if key.key_id and key.public_key_use in ("sig", None)
        }
        if not keys:
            raise ValueError("no signing keys")
        return keys
