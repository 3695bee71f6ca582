"""Audit events: append-only and hash-chained; the service never updates or deletes them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.columns import UTCDateTime, utcnow
from service.extensions import Base


class AuditEvent(Base):
    """One read or write of a record (or a refusal), by one user, about at most one child.

    ``chain`` and ``seq`` place the event in one of a few hash chains; ``hash`` covers the
    event's content and ``prev_hash``, the hash of the event before it in the chain.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        Index("ix_audit_events_child_id_at", "child_id", "at"),
        Index("ix_audit_events_record", "record_type", "record_id"),
        Index("ix_audit_events_actor_id_at", "actor_id", "at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    chain: Mapped[int] = mapped_column(SmallInteger)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[uuid.UUID | None]
    actor_role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(30))
    record_type: Mapped[str] = mapped_column(String(30))
    record_id: Mapped[str | None] = mapped_column(String(64))
    child_id: Mapped[uuid.UUID | None]
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[uuid.UUID | None]
    changed_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    snapshot_sha256: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


# The events written before the chain existed (migration 0009), kept unchanged and unverifiable:
# `flask audit verify` counts them. Declared so the schema check and create_all know the table.
legacy_audit_events = Table(
    "audit_events_before_chain",
    Base.metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor_id", Uuid(), nullable=True),
    Column("actor_role", String(20), nullable=True),
    Column("action", String(30), nullable=False),
    Column("record_type", String(30), nullable=False),
    Column("record_ids", JSON, nullable=False),
    Column("remote_addr", String(64), nullable=True),
    Column("details", JSON, nullable=False),
)
