"""The transactional outbox: an approval writes its message in the same transaction.

The visit's lifecycle emits an event for every approval; :func:`on_visit_changed` turns it into
an :class:`OutboxMessage` holding the payload exactly as approved. If the approval rolls back,
so does the message; if it commits, the message is there for a worker (``worker.py``) to
deliver. Research found no Python queue library whose enqueue joins the application's own
SQLAlchemy transaction on both SQLite and PostgreSQL, hence this table.

Also here: what a visit's delivery looks like to its readers, and an admin's retry.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Select, and_, func, select, update

from service.audit.events import Action as AuditAction
from service.audit.events import Subject
from service.audit.trail import record
from service.auth.models import User
from service.cases.models import Child
from service.columns import utcnow
from service.core_system import payload
from service.core_system.mapping import load_mapping
from service.core_system.models import MessageStatus, OutboxMessage
from service.errors import Conflict, NotFound
from service.extensions import db
from service.reviews.models import Review
from service.visits.lifecycle import Action, VisitEvent, visit_changed
from service.visits.models import Visit, VisitStatus, VisitVersion


def on_visit_changed(event: VisitEvent) -> None:
    """An approval (first or of an amendment) is a message for the core system."""
    if event.action is Action.APPROVE:
        review = db.session.get(Review, uuid.UUID(event.details["review"]))
        assert review is not None  # noqa: S101 - the transition's caller added it
        enqueue(event.visit, review, event.at)


def enqueue(visit: Visit, review: Review, at: datetime) -> OutboxMessage:
    """Write the message for the version ``review`` approved, in the approving transaction."""
    version = db.session.scalars(
        select(VisitVersion).where(
            VisitVersion.visit_id == visit.id, VisitVersion.number == review.version_number
        )
    ).one()
    earlier = db.session.scalar(
        select(func.max(OutboxMessage.version_number)).where(OutboxMessage.visit_id == visit.id)
    )
    child_ids = [uuid.UUID(entry["child_id"]) for entry in version.snapshot["children"]]
    children = {
        str(child.id): child
        for child in db.session.scalars(select(Child).where(Child.id.in_(child_ids)))
    }
    config = current_app.config
    body = payload.build(
        event=payload.AMENDMENT_APPROVED if earlier else payload.APPROVED,
        visit=visit,
        case=visit.case,
        version=version,
        review=review,
        children=children,
        supersedes=earlier,
        mapping=load_mapping(config["CORE_SYSTEM_MAPPING"]),
        service_url=config["SERVICE_URL"],
        timezone=config["LOCAL_TIMEZONE"],
    )
    message = OutboxMessage(
        visit_id=visit.id,
        version_number=version.number,
        review_id=review.id,
        event=body["event"],
        idempotency_key=payload.idempotency_key(visit.id, version.number),
        payload=body,
        payload_sha256=payload.digest(body),
        status=MessageStatus.PENDING,
        attempts=0,
        next_attempt_at=at,
        created_at=at,
    )
    db.session.add(message)
    return message


def backfill(limit: int | None = None) -> int:
    """Messages for approved visits that have none: those approved before delivery to the core
    system existed. Each is built from the visit's latest approval. Returns how many (flushed);
    called again, it goes on with the next ones.
    """
    approval = Review.visit_id == Visit.id, Review.decision == "approve"
    undelivered = (
        select(Visit)
        .where(
            Visit.status == VisitStatus.APPROVED,
            ~select(OutboxMessage.id).where(OutboxMessage.visit_id == Visit.id).exists(),
            select(Review.id).where(*approval).exists(),
        )
        .order_by(Visit.last_submitted_at, Visit.id)
        .limit(limit)
    )
    count = 0
    for visit in db.session.scalars(undelivered).all():
        review = db.session.scalars(
            select(Review)
            .where(Review.visit_id == visit.id, Review.decision == "approve")
            .order_by(Review.decided_at.desc())
            .limit(1)
        ).one()
        enqueue(visit, review, utcnow())
        count += 1
    db.session.flush()
    return count


def delivery_state(messages: list[OutboxMessage]) -> dict[str, Any] | None:
    """What a visit's readers see of its delivery, from its messages in id order.

    The first message not yet delivered decides (later ones wait behind it); when all are
    delivered, the latest says when and with which reference.
    """
    if not messages:
        return None
    waiting = next((m for m in messages if m.status != MessageStatus.DELIVERED), None)
    shown = waiting or messages[-1]
    if shown.status == MessageStatus.DELIVERED:
        state = "delivered"
    elif shown.status == MessageStatus.DEAD:
        state = "dead_letter"
    else:
        state = "failed" if shown.last_error else "pending"
    return {
        "state": state,
        "version": shown.version_number,
        "attempts": shown.attempts,
        "delivered_at": shown.delivered_at,
        "core_reference": shown.core_reference,
        "last_error": shown.last_error,
        "next_attempt_at": shown.next_attempt_at if state in ("pending", "failed") else None,
    }


def delivery_states(visit_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any] | None]:
    """The delivery state of each visit (None: never approved), in one query."""
    ids = list(visit_ids)
    by_visit: dict[uuid.UUID, list[OutboxMessage]] = {visit_id: [] for visit_id in ids}
    if ids:
        rows = db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.visit_id.in_(ids))
            .order_by(OutboxMessage.visit_id, OutboxMessage.id)
        )
        for message in rows:
            if message.visit_id is not None:
                by_visit[message.visit_id].append(message)
    return {visit_id: delivery_state(messages) for visit_id, messages in by_visit.items()}


def message_query(filters: dict[str, Any]) -> Select[Any]:
    """Messages for the admin list, newest first, filtered by status, destination, visit or
    event.
    """
    query = select(OutboxMessage)
    for name in ("status", "destination", "visit_id", "event"):
        if filters.get(name):
            query = query.where(getattr(OutboxMessage, name) == filters[name])
    return query.order_by(OutboxMessage.id.desc())


def retry(actor: User | None, message_id: int) -> OutboxMessage:
    """Put a dead letter back in the queue, to be tried at once (audited).

    Only a dead letter: a message still being retried is in a worker's hands or waiting its
    turn, and resetting it would resend it early or keep it from ever becoming a dead letter.
    """
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound("outbox.not_found", "No such message.")
    queued = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.status == MessageStatus.DEAD)
        .values(
            status=MessageStatus.PENDING,
            attempts=0,
            next_attempt_at=utcnow(),
            claimed_until=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not queued:
        raise Conflict(
            "outbox.not_dead",
            f"Only a dead letter can be retried; this message is {message.status}.",
        )
    db.session.refresh(message)
    record(
        AuditAction.RETRY,
        Subject("outbox_message", message.id),
        actor=actor,
        visit_id=message.visit_id,
    )
    return message


def backlog(*, delivered: bool = False) -> dict[str, Any]:
    """How many messages are pending and dead, the oldest undelivered one's age in seconds,
    and (``delivered``, a count over the whole history) how many were delivered.
    """
    undelivered = OutboxMessage.status != MessageStatus.DELIVERED
    counts = dict(
        db.session.execute(
            select(OutboxMessage.status, func.count()).where(undelivered).group_by("status")
        ).all()
    )
    # An alert email held back by the quiet hours is not late: it is not counted as waiting
    # until its first try is due, so a monitor on this age does not go off every night.
    held = and_(OutboxMessage.attempts == 0, OutboxMessage.next_attempt_at > utcnow())
    oldest: datetime | None = db.session.scalar(
        select(OutboxMessage.created_at)
        .where(undelivered, ~held)
        .order_by(OutboxMessage.id)
        .limit(1)
    )
    summary: dict[str, Any] = {
        "pending": int(counts.get(MessageStatus.PENDING, 0)),
        "dead": int(counts.get(MessageStatus.DEAD, 0)),
        "oldest_undelivered_seconds": (
            round((utcnow() - oldest).total_seconds(), 1) if oldest else None
        ),
    }
    if delivered:
        summary["delivered"] = db.session.scalar(
            select(func.count()).where(OutboxMessage.status == MessageStatus.DELIVERED)
        )
    return summary


def init_app(app: Flask) -> None:
    """Subscribe the outbox to the visit's life, and choose the core system adapter."""
    from service.core_system import adapters

    adapters.init_app(app)
    visit_changed.connect(on_visit_changed)
