"""What the outbox worker does beside delivery, and how it waits out a database that is down.

Registered jobs (the alerts' scan) and the audit anchors run every so often in the worker's
loop; a failure of theirs is logged and delivery goes on. A database that cannot be reached or
stops answering (each wait for an answer is bounded by ``WORKER_DATABASE_TIMEOUT_SECONDS``,
connecting by ``DATABASE_TIMEOUT_SECONDS``) is not a failure of one batch:
:class:`DatabaseOutage` logs it once in plain words, naming the bound that ran out, and the
worker tries again after a growing pause until the database answers.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError

from service.audit import anchors
from service.database import bound_reached, first_line, unavailable
from service.extensions import db
from storage import StorageError

log = logging.getLogger(__name__)


def unavailable_database(error: BaseException) -> bool:
    """Whether ``error`` says the database is unreachable or stopped answering."""
    return isinstance(error, DBAPIError) and unavailable(error)


class Every:
    """A registered job run every ``interval`` seconds; a failure is logged, and delivery
    goes on. A database that is down is left to the worker's loop (:class:`DatabaseOutage`).
    """

    def __init__(self, interval: float, job: Callable[[], Any]) -> None:
        self.interval = interval
        self.job = job
        self.next_at = 0.0

    def run_if_due(self) -> None:
        """Run the job now if its interval has passed."""
        now = time.monotonic()
        if now < self.next_at:
            return
        self.next_at = now + self.interval
        try:
            self.job()
        except Exception as error:
            db.session.rollback()
            if unavailable_database(error):
                raise
            log.exception("outbox worker: %s failed; trying again later", self.job.__name__)
        finally:
            db.session.remove()


class AnchorSchedule:
    """The audit chains' heads, anchored every ``interval`` seconds beside delivery.

    Only chains that moved since the last anchor are written. A store that is down is logged
    and tried again next time; delivery goes on.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.next_at = 0.0
        self.anchored: dict[int, int] = {}

    def run_if_due(self) -> None:
        """Anchor now if the interval has passed."""
        now = time.monotonic()
        if now < self.next_at:
            return
        self.next_at = now + self.interval
        try:
            for anchor in anchors.write_anchors(skip=self.anchored):
                self.anchored[anchor.chain] = anchor.seq
        except StorageError:
            log.exception("audit anchors could not be written; trying again later")
        finally:
            db.session.rollback()


class DatabaseOutage:
    """How long the worker waits before trying a database that is down again: 1 s, doubling to
    :attr:`LONGEST` (with jitter, so several workers do not return at one instant); logged at
    each try, with the driver's one-line reason (never a statement or its parameters).
    """

    FIRST = 1.0
    LONGEST = 30.0

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.tries = 0
        self.since: float | None = None

    def failed(self, error: BaseException) -> float:
        """Log the failure; returns how many seconds to wait before the next try."""
        if self.since is None:
            self.since = time.monotonic()
        self.tries += 1
        ceiling = min(self.LONGEST, self.FIRST * 2 ** (self.tries - 1))
        pause = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security
        bound = bound_reached(error)
        log.warning(
            "outbox worker %s: the database is unavailable (%s%s); connection dropped, "
            "trying again in %.1f s (try %d)",
            self.worker,
            first_line(error),
            f"; {bound}" if bound else "",
            pause,
            self.tries,
        )
        return pause

    def over(self) -> None:
        """The database answered: log how long it was away, and start the pauses afresh."""
        if self.since is None:
            return
        log.warning(
            "outbox worker %s: the database answers again after %.1f s; delivering",
            self.worker,
            time.monotonic() - self.since,
        )
        self.since = None
        self.tries = 0
