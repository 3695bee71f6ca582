"""The per-account sign-in throttle, beside the per-address limit (README "Sign-in limits").

Failed sign-ins are counted per username, whatever address they come from, so an attacker
spraying one account from many addresses is stopped, while a whole office signing in from one
address is not. Unknown usernames are counted exactly like real ones: the answer never says
whether an account exists. The counts live in the rate limiter's store (Redis, shared by every
instance); when it cannot be reached, this process counts alone for a while and logs it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
import time
import unicodedata
from collections.abc import Callable
from typing import TypeVar

from flask import current_app
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter, RateLimiter

from service.errors import TooManyRequests
from service.extensions import limiter

log = logging.getLogger(__name__)

SCOPE = "sign-in-account"
# After the store fails, how long this process counts alone before trying it again.
STORE_RETRY_SECONDS = 30
T = TypeVar("T")


class _Fallback:
    """The counts kept in this process, used while the shared store is unreachable."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.strategy: RateLimiter | None = None
        self.store_down_until = 0.0

    def local(self) -> RateLimiter:
        with self.lock:
            if self.strategy is None:
                self.strategy = MovingWindowRateLimiter(MemoryStorage())
            return self.strategy


_fallback = _Fallback()


def account_key(username: str) -> str:
    """The account's key in the store: a keyed digest (HMAC with ``SECRET_KEY``) of the username
    as people type it (spaces trimmed, compatibility-normalised, case folded), so ``Alice`` and
    ``alice `` share a count, and no username is written to Redis nor can be recovered from it by
    hashing guesses.
    """
    normalised = unicodedata.normalize("NFKC", username.strip()).casefold()
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, normalised.encode(), hashlib.sha256).hexdigest()[:40]


def _limits() -> list[RateLimitItem]:
    """The account limits; none when rate limiting is switched off (``RATELIMIT_ENABLED``)."""
    config = current_app.config
    return parse_many(config["LOGIN_ACCOUNT_RATE_LIMIT"]) if config["RATELIMIT_ENABLED"] else []


def _on_store(action: Callable[[RateLimiter], T]) -> T:
    """Run ``action`` on the shared store, or on this process's counts while it is down
    (as this process found, or as flask-limiter found earlier in this request: its strategy
    then counts in its own in-memory fallback, not in the shared store).
    """
    limiter_fell_back = limiter.limiter.storage is not limiter.storage
    if not limiter_fell_back and time.monotonic() >= _fallback.store_down_until:
        try:
            return action(MovingWindowRateLimiter(limiter.storage))
        except StorageError as error:
            log.warning(
                "rate limit store unreachable (%s): counting failed sign-ins per account in "
                "this process for %d s",
                type(error.storage_error).__name__,
                STORE_RETRY_SECONDS,
            )
            _fallback.store_down_until = time.monotonic() + STORE_RETRY_SECONDS
    return action(_fallback.local())


def refuse_if_throttled(username: str) -> None:
    """Raise 429 ``auth.account_locked`` if this username has used its failed attempts, before
    any password is checked (so a locked account costs no password hashing either).
    """
    key, limits = account_key(username), _limits()
    if not limits:
        return

    def seconds_to_wait(strategy: RateLimiter) -> float:
        waits = [
            strategy.get_window_stats(item, SCOPE, key).reset_time - time.time()
            for item in limits
            if not strategy.test(item, SCOPE, key)
        ]
        return max(waits, default=0.0)

    wait = _on_store(seconds_to_wait)
    if wait > 0:
        raise TooManyRequests(
            "auth.account_locked",
            "Too many failed sign-ins for this username; try again after Retry-After seconds, "
            "or ask an admin to reset the password.",
            math.ceil(wait),
        )


def count_failure(username: str) -> None:
    """Count one failed sign-in against this username in every window."""
    key, limits = account_key(username), _limits()

    def hit(strategy: RateLimiter) -> None:
        for item in limits:
            strategy.hit(item, SCOPE, key)

    if limits:
        _on_store(hit)


def forget(username: str) -> None:
    """Clear the username's failed attempts (an admin has just set a new password)."""
    key, limits = account_key(username), _limits()

    def clear(strategy: RateLimiter) -> None:
        for item in limits:
            strategy.clear(item, SCOPE, key)

    if limits:
        _on_store(clear)
