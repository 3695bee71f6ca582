"""The outbox of messages for the core case system, and the local registry's deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.columns import UTCDateTime, utcnow
from service.extensions import Base


class MessageStatus(StrEnum):
    """Where a message is: waiting (or retrying), delivered, or a dead letter for an admin."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


MESSAGE_STATUSES = tuple(status.value for status in MessageStatus)
# Who a message is for: the core case system (a visit's approved record), or a person told of
# something waiting (service/alerts), by email. One queue, one worker, one set of retries.
CORE_SYSTEM = "core_system"
ALERT = "alert"
DESTINATIONS = (CORE_SYSTEM, ALERT)
# SQLite has no BIGINT autoincrement: there a BigInteger key must be an INTEGER PRIMARY KEY.
Serial = BigInteger().with_variant(Integer(), "sqlite")


class OutboxMessage(Base):
    """One approved version of a visit, to be delivered to the core system exactly once; or one
    alert email (``destination`` ``alert``), sent through the same worker.

    Written in the transaction that approved it, with the payload frozen as approved. The id
    orders messages: two versions of one visit are delivered in id order, never the other way.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint(f"status IN {MESSAGE_STATUSES!r}", name="status"),
        CheckConstraint(f"destination IN {DESTINATIONS!r}", name="destination"),
        # Delivered messages pile up for years; the workers and /readyz only read the rest.
        Index(
            "ix_outbox_messages_undelivered",
            "id",
            postgresql_where=text("status <> 'delivered'"),
            sqlite_where=text("status <> 'delivered'"),
        ),
        Index("ix_outbox_messages_visit_id_id", "visit_id", "id"),
        # The few pending messages claimed first (urgent alert emails), found without a scan.
        Index(
            "ix_outbox_messages_pending_event",
            "event",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    destination: Mapped[str] = mapped_column(
        String(20), default=CORE_SYSTEM, server_default=CORE_SYSTEM
    )
    # Set for the core system's messages; an alert's are None.
    visit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visits.id"))
    version_number: Mapped[int | None] = mapped_column(doc="The approved VisitVersion's number")
    review_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("reviews.id"))
    event: Mapped[str] = mapped_column(String(40))
    # The receiver's key for "have I had this already?": visit and version, never reused.
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default=MessageStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A worker's lease: the message is its own until then (a crashed worker's lease runs out).
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(300))
    last_status: Mapped[int | None]
    core_reference: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LocalDelivery(Base):
    """What the local registry (the embedded default core system) has received."""

    __tablename__ = "core_local_deliveries"

    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(index=True)
    version_number: Mapped[int]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def reference(self) -> str:
        """The case-note reference the local registry gives."""
        return f"LOCAL-{self.id}"
