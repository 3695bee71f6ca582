"""The per-account sign-in throttle, beside the per-address limit (README "Sign-in limits").

Sign-in attempts are counted per username, whatever address they come from, so an attacker
spraying one account from many addresses is stopped, while a whole office signing in from one
address is not. An attempt is taken atomically just before the password is checked (after the
account is looked up, so a sign-in the database could not answer takes none), and given back
when the password is right, so only failures stay counted. Unknown usernames are counted exactly
like real ones: the answer never says whether an account exists. The counts live in the rate
limiter's store (Redis, shared by every instance); when it cannot be
reached, this process counts alone for a while and logs it.
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


def normalised_username(username: str) -> str:
    """The username as people type it: spaces trimmed, compatibility-normalised, case folded
    (``Alice`` and ``alice `` are one account; sign-in finds it the same way).
    """
    return unicodedata.normalize("NFKC", username.strip()).casefold()


def account_key(username: str) -> str:
    """The account's key in the store: a keyed digest (HMAC with ``SECRET_KEY``) of the
    :func:`normalised_username`, so ``Alice`` and ``alice `` share a count, and no username is
    written to Redis nor can be recovered from it by hashing guesses.
    """
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, normalised_username(username).encode(), hashlib.sha256).hexdigest()[:40]


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


def take_attempt(username: str) -> None:
    """Take one of this username's attempts before its password is checked, or raise 429
    ``auth.account_locked`` (no password checked, so a locked account costs no hashing either).

    Taking the attempt is one atomic operation of the store (``hit``: a script in Redis, a lock
    in memory), so N requests racing for one username get at most the limit's number of password
    checks between them; testing first and counting after the check would let them all through.
    The windows are taken shortest first, so an attempt refused by the short window never uses
    the long one's budget. A sign-in that succeeds gives its attempts back (:func:`succeeded`).
    """
    key, limits = account_key(username), _limits()
    if not limits:
        return
    ordered = sorted(limits, key=lambda item: item.get_expiry())

    def take(strategy: RateLimiter) -> float | None:
        for item in ordered:
            if not strategy.hit(item, SCOPE, key):
                return strategy.get_window_stats(item, SCOPE, key).reset_time - time.time()
        return None  # taken in every window

    wait = _on_store(take)
    if wait is not None:
        raise TooManyRequests(
            "auth.account_locked",
            "Too many failed sign-ins for this username; try again after Retry-After seconds, "
            "or ask an admin to reset the password.",
            max(1, math.ceil(wait)),
        )


def succeeded(username: str) -> None:
    """The right password: this username's attempts are forgotten, as after a password reset
    (the person has shown they know it; README "Sign-in limits" weighs this).
    """
    forget(username)


def forget(username: str) -> None:
    """Clear the username's attempts (an admin has just set a new password, or the person has
    just signed in with theirs).
    """
    key, limits = account_key(username), _limits()

    def clear(strategy: RateLimiter) -> None:
        for item in limits:
            strategy.clear(item, SCOPE, key)

    if limits:
        _on_store(clear)
