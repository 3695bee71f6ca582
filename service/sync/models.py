"""The change counter behind sync cursors, and receipts that make a replayed batch harmless."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.columns import UTCDateTime, utcnow
from service.extensions import Base


class ChangeCounter(Base):
    """One row; its value is bumped at commit by every transaction that changes synced data.

    The bump takes the row's lock until commit, so sequence numbers are handed out in commit
    order and a cursor can never skip a change that commits late.
    """

    __tablename__ = "change_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class SyncReceipt(Base):
    """The answer given to one sync batch, so the identical batch sent again gets it back."""

    __tablename__ = "sync_receipts"
    __table_args__ = (Index("ix_sync_receipts_lookup", "user_id", "device_key", "request_digest"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    device_key: Mapped[str] = mapped_column(String(100))
    request_digest: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
