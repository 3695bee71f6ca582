"""A per-process circuit breaker: after a store timed out, fail fast for a cool-down.

Without it, every request that touches a hung store waits its full bound (about a minute with
the defaults), and a handful of uploads take every worker thread; ``/healthz`` and everything
else queue behind them. With it, the first try that times out (or cannot connect) opens the
breaker: for ``cooldown`` seconds every call fails at once with :class:`StorageUnavailable`
(the same 503 with ``Retry-After``). Then one trial call goes through (half-open) while the
others keep failing fast; its success closes the breaker, its timeout opens it again.

Why not pybreaker: its ``call`` holds one lock for the whole wrapped call, so threads of a
gthread worker would queue behind each other's uploads; and it counts failures rather than
telling a timeout (trip) from an answer (the store is there, whatever it said).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from storage.base import StorageUnavailable


class FailingFast(StorageUnavailable):
    """Refused without a call: the breaker is open after a timeout."""


class CircuitBreaker:
    """Closed, open until ``opened_until``, or half-open with one trial in flight.

    ``cooldown`` of 0 disables it: every call goes through. ``clock`` is for tests.
    Thread-safe: the lock is held only to read or change the state, never during a call.
    """

    def __init__(self, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.cooldown = cooldown
        self.clock = clock
        self._lock = threading.Lock()
        self._opened_until: float | None = None
        self._trial = False

    def refuse_if_open(self) -> None:
        """Raise :class:`FailingFast` while the cool-down runs (not when half-open).

        For each HTTP request a call makes (a retry, a part of an upload queued behind others):
        a call admitted before the breaker opened does not then wait on the hung store too.
        """
        opened_until = self._opened_until
        if self.cooldown and opened_until is not None and self.clock() < opened_until:
            raise FailingFast("evidence store failing fast after a timeout")

    def before(self) -> bool:
        """Raise :class:`FailingFast` if the call must fail fast; otherwise return
        whether this call is the half-open trial (its outcome decides the state).
        """
        if not self.cooldown:
            return False
        with self._lock:
            if self._opened_until is None:
                return False
            if self._trial or self.clock() < self._opened_until:
                raise FailingFast("evidence store failing fast after a timeout")
            self._trial = True
            return True

    def succeeded(self) -> None:
        """The store answered (whatever it said): close."""
        if not self.cooldown or self._opened_until is None:  # closed already: no lock needed
            return
        with self._lock:
            self._opened_until = None
            self._trial = False

    def timed_out(self) -> None:
        """The store timed out or could not be reached: open (again) for the cool-down."""
        if not self.cooldown:
            return
        with self._lock:
            self._opened_until = self.clock() + self.cooldown
            self._trial = False

    def abandon(self) -> None:
        """The trial ended without telling (the client went away mid-upload): the next call
        is the trial instead, so that the breaker is never left waiting for an answer.
        """
        with self._lock:
            self._trial = False
