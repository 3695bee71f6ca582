"""The outbox worker: claim due messages, deliver them, record what happened.

A worker claims a batch in one short transaction: due, pending messages whose lease has run out
and that no earlier undelivered message of the same visit is waiting in front of, locked with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL so several workers never take the same one (SQLite runs
one worker). The claim is a lease (``claimed_until``), so a worker killed mid-delivery leaves the
message to be taken again when the lease ends; the ``Idempotency-Key`` makes that second send
harmless. Each message is then delivered outside any transaction and its outcome written in one
of its own: delivered, tried again later (exponential backoff with jitter, or the core
system's ``Retry-After``), or a dead letter after ``OUTBOX_MAX_ATTEMPTS`` or a refusal that will
never succeed.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from blinker import Namespace
from flask import current_app
from sqlalchemy import Select, and_, exists, or_, select, text, update
from sqlalchemy.orm import aliased

from service.audit.events import Action, about_children
from service.audit.trail import record
from service.columns import utcnow
from service.core_system.adapters import CoreSystem, Delivered, DeliveryFailed, core_system
from service.core_system.models import CORE_SYSTEM, MessageStatus, OutboxMessage
from service.core_system.schedules import (
    AnchorSchedule,
    DatabaseOutage,
    Every,
    unavailable_database,
)
from service.database import database_deadline
from service.extensions import db
from service.visits.models import VisitChild

log = logging.getLogger(__name__)
_signals = Namespace()
# Sent in the transaction that makes a message a dead letter (a core-system delivery or an alert
# email), with its id and destination (and an alert's kind): the alerts feature tells the admins
# in that same transaction.
became_dead_letter = _signals.signal("outbox-dead-letter")


@dataclass(frozen=True)
class Claimed:
    """A message this worker holds the lease on: what it needs to deliver it."""

    id: int
    visit_id: Any
    version_number: int
    key: str
    payload: dict[str, Any]
    attempts: int
    destination: str = CORE_SYSTEM


# How a message for another destination than the core system is sent (``alert``: by
# service/alerts), registered by that feature at start-up so this module imports none.
Sender = Callable[[Claimed], Delivered]
SENDERS: dict[str, Sender] = {}


def register_sender(destination: str, sender: Sender) -> None:
    """Have ``sender`` deliver the messages for ``destination`` (it raises DeliveryFailed)."""
    SENDERS[destination] = sender


# Jobs the worker runs every so often beside delivery (the alerts' scan): the name of the
# setting holding the interval in seconds, and the job, which commits its own work.
PERIODIC: dict[str, Callable[[], Any]] = {}


def register_periodic(interval_setting: str, job: Callable[[], Any]) -> None:
    """Have every outbox worker run ``job`` each ``config[interval_setting]`` seconds."""
    PERIODIC[interval_setting] = job


def worker_name() -> str:
    """A name for this worker in leases and logs: host, process and thread."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{threading.get_ident() % 100000}"


# Events claimed before any other due message (urgent alert emails), registered by their
# feature at start-up: a morning's digests must not hold back "I need help now".
FIRST_EVENTS: set[str] = set()


def register_first(event: str) -> None:
    """Have the workers claim due messages of ``event`` before any other."""
    FIRST_EVENTS.add(event)


def _due(now: datetime, limit: int, *, events: set[str] | None = None) -> Select[int]:
    """Up to ``limit`` due messages, oldest first (only of ``events`` if given), locked."""
    earlier = aliased(OutboxMessage)
    due = select(OutboxMessage.id).where(
        OutboxMessage.status != MessageStatus.DELIVERED,  # the partial index's condition
        OutboxMessage.status == MessageStatus.PENDING,
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        ~exists().where(
            and_(
                earlier.visit_id == OutboxMessage.visit_id,
                earlier.id < OutboxMessage.id,
                earlier.status != MessageStatus.DELIVERED,
            )
        ),
    )
    if events is not None:
        due = due.where(OutboxMessage.event.in_(sorted(events)))
    return (
        due.order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=OutboxMessage)
    )


def claim(worker: str, limit: int, now: datetime | None = None) -> list[Claimed]:
    """Take the lease on up to ``limit`` due messages, oldest first (those of
    :data:`FIRST_EVENTS` before all others), and commit the claim.
    """
    now = now or utcnow()
    if db.session.get_bind().dialect.name == "postgresql":
        # psycopg prepares a statement run often, and PostgreSQL may then settle on a generic
        # plan; for this query, planned before the table's statistics caught up with a
        # backlog, that plan took seconds a claim (measured: 12 instead of 260 messages/s).
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    ids = list(db.session.scalars(_due(now, limit, events=FIRST_EVENTS))) if FIRST_EVENTS else []
    if len(ids) < limit:
        # Rows this transaction locked already come again (a lock of our own is no obstacle).
        ids += [i for i in db.session.scalars(_due(now, limit)) if i not in ids][: limit - len(ids)]
    if not ids:
        db.session.commit()
        return []
    rows = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .values(
            claimed_by=worker,
            claimed_until=now + timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"]),
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(
            OutboxMessage.id,
            OutboxMessage.visit_id,
            OutboxMessage.version_number,
            OutboxMessage.idempotency_key,
            OutboxMessage.payload,
            OutboxMessage.attempts,
            OutboxMessage.destination,
        )
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    order = {message_id: index for index, message_id in enumerate(ids)}
    return sorted((Claimed(*row) for row in rows), key=lambda message: order[message.id])


def release(worker: str, messages: list[Claimed]) -> None:
    """Give back claimed messages not yet tried (a worker stopping): no attempt is counted."""
    if not messages:
        return
    db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_([message.id for message in messages]),
            OutboxMessage.claimed_by == worker,
            OutboxMessage.status == MessageStatus.PENDING,
        )
        .values(claimed_until=None, attempts=OutboxMessage.attempts - 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """How long to wait after failed attempt number ``attempts``: exponential, with jitter
    (between half and all of it), never longer than the maximum; at least ``Retry-After``.
    """
    config = current_app.config
    ceiling = config["OUTBOX_BACKOFF_MAX_SECONDS"]
    delay = min(ceiling, config["OUTBOX_BACKOFF_SECONDS"] * 2 ** max(0, attempts - 1))
    wait = random.uniform(delay / 2, delay)  # noqa: S311 - jitter, not security
    if retry_after is not None:
        wait = max(wait, min(retry_after, ceiling))
    return timedelta(seconds=wait)


def _finish(worker: str, message: Claimed, **values: Any) -> bool:
    """Write the outcome if this worker still holds the message (its lease may have passed)."""
    done = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message.id,
            OutboxMessage.claimed_by == worker,
            OutboxMessage.status == MessageStatus.PENDING,
        )
        .values(claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return bool(done)


def deliver(adapter: CoreSystem, worker: str, message: Claimed) -> str:
    """Deliver one claimed message and record the outcome; returns the new status."""
    try:
        if message.destination == CORE_SYSTEM:
            delivered = adapter.deliver(message.key, message.payload)
        else:
            delivered = SENDERS[message.destination](message)
    except DeliveryFailed as failure:
        db.session.rollback()  # the local registry's insert, if it got that far
        return _failed(worker, message, failure)
    except Exception as error:
        # Not a refusal we know: count it as an attempt all the same, so the message shows
        # the failure and becomes a dead letter in the end instead of being retried unseen.
        db.session.rollback()
        if unavailable_database(error):
            raise  # the local registry's database is ours: the worker waits for it
        log.exception("outbox message %s: unexpected error while delivering", message.id)
        return _failed(
            worker,
            message,
            DeliveryFailed(f"unexpected error: {type(error).__name__}", retryable=True),
        )
    now = utcnow()
    if _finish(
        worker,
        message,
        status=MessageStatus.DELIVERED,
        delivered_at=now,
        core_reference=delivered.reference,
        last_error=None,
        last_status=None,
    ):
        if message.destination != CORE_SYSTEM:  # an alert carries no child's record
            db.session.commit()
            return MessageStatus.DELIVERED
        # Children's records left this service: the disclosure is audited, ids only.
        record(
            Action.DELIVER,
            about_children("visit", message.visit_id, _children_of(message.visit_id)),
            actor=None,
            version=message.version_number,
            core_reference=delivered.reference,
            core_system=adapter.name,
            replay=delivered.replay,
        )
        db.session.commit()
        return MessageStatus.DELIVERED
    db.session.rollback()
    log.warning("outbox message %s: lease lost before it was marked delivered", message.id)
    return MessageStatus.PENDING


def _children_of(visit_id: Any) -> list[Any]:
    return list(
        db.session.scalars(select(VisitChild.child_id).where(VisitChild.visit_id == visit_id))
    )


def _failed(worker: str, message: Claimed, failure: DeliveryFailed) -> str:
    limit = current_app.config["OUTBOX_MAX_ATTEMPTS"]
    dead = not failure.retryable or message.attempts >= limit
    status = MessageStatus.DEAD if dead else MessageStatus.PENDING
    values: dict[str, Any] = {
        "status": status,
        "last_error": failure.reason[:300],
        "last_status": failure.status,
    }
    if not dead:
        values["next_attempt_at"] = utcnow() + backoff(message.attempts, failure.retry_after)
    finished = _finish(worker, message, **values)
    if finished and dead:
        alert_kind = None if message.destination == CORE_SYSTEM else message.payload.get("kind")
        became_dead_letter.send(message.id, destination=message.destination, alert_kind=alert_kind)
    db.session.commit()
    log.warning(
        "outbox message %s (attempt %s): %s%s",
        message.id,
        message.attempts,
        failure.reason,
        "; now a dead letter" if dead else "",
    )
    return status


def run_once(worker: str, stop: threading.Event | None = None) -> int:
    """Claim one batch and deliver it; returns how many messages were tried."""
    adapter = core_system()
    batch = claim(worker, current_app.config["OUTBOX_BATCH_SIZE"])
    for index, message in enumerate(batch):
        if stop is not None and stop.is_set():
            release(worker, batch[index:])
            return index
        deliver(adapter, worker, message)
    return len(batch)


def run(stop: threading.Event, *, once: bool = False) -> int:
    """Deliver until ``stop`` is set (a signal), polling every ``OUTBOX_POLL_MS`` when idle.

    With ``once``, deliver what is due now and return. Returns how many messages were tried.
    Each wait for an answer from PostgreSQL is bounded by ``WORKER_DATABASE_TIMEOUT_SECONDS``
    (connecting, by ``DATABASE_TIMEOUT_SECONDS``): a database that stops answering is logged,
    its connection dropped, and the worker tries again with back-off until it answers
    (:class:`DatabaseOutage`).
    """
    config = current_app.config
    bound = "WORKER_DATABASE_TIMEOUT_SECONDS"
    with database_deadline(config[bound], bound):
        return _deliver_until_stopped(stop, once, config["OUTBOX_POLL_MS"] / 1000)


def _deliver_until_stopped(stop: threading.Event, once: bool, poll: float) -> int:
    worker = worker_name()
    adapter = core_system()
    log.info("outbox worker %s delivering to the %s core system", worker, adapter.name)
    tried = 0
    anchoring = AnchorSchedule(current_app.config["AUDIT_ANCHOR_INTERVAL_SECONDS"])
    jobs = [Every(current_app.config[name], job) for name, job in PERIODIC.items()]
    outage = DatabaseOutage(worker)
    while not stop.is_set():
        try:
            anchoring.run_if_due()
            for job in jobs:
                job.run_if_due()
            done = run_once(worker, stop)
        except Exception as error:
            db.session.rollback()
            if unavailable_database(error):
                if once:
                    raise  # `outbox run --once` stops with the message every command gives
                stop.wait(outage.failed(error))
                continue
            log.exception("outbox worker %s: a batch failed; waiting before the next", worker)
            stop.wait(max(poll, 5))
            continue
        finally:
            db.session.remove()
        outage.over()
        tried += done
        if once and done == 0:
            break
        if done == 0:
            stop.wait(poll)
    return tried
