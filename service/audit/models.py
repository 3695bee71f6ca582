"""Audit events: append-only; the service never updates or deletes them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.columns import UTCDateTime, utcnow
from service.extensions import Base


class AuditEvent(Base):
    """One read or write of child data (or of an account), by one user."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    actor_role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(30))
    record_type: Mapped[str] = mapped_column(String(30))
    record_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
