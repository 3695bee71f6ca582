"""Alerts kept in the service, one per person told, and each person's alert preferences."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.alerts.kinds import KINDS
from service.columns import UTCDateTime, utcnow
from service.core_system.models import Serial
from service.extensions import Base


class Alert(Base):
    """One person told that something is waiting for them.

    It names no child, no words and no contact details: ``kind``, how many things, and the
    path of the page where a signed-in person sees them. ``dedupe_key`` is what makes one
    alert of a kind for a person unique (the day of a digest, the visit version waiting, the
    review whose decision is overdue): the database refuses a second, so two workers scanning
    at once never tell anyone twice.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(f"kind IN {KINDS!r}", name="kind"),
        UniqueConstraint("user_id", "kind", "dedupe_key"),
        Index("ix_alerts_user_id_id", "user_id", "id"),
        Index("ix_alerts_kind_created_at", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    dedupe_key: Mapped[str] = mapped_column(String(100))
    count: Mapped[int] = mapped_column(default=1)
    # A path in this service (e.g. /desk/feedback/<id>); links sent out prefix PUBLIC_BASE_URL.
    path: Mapped[str] = mapped_column(String(300))
    urgent: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AlertPreference(Base):
    """Where a person's alerts are emailed, and the kinds they have switched off.

    The address is set by an admin (``flask alerts address``); a kind the council marks
    mandatory (``ALERTS_MANDATORY``) cannot be switched off.
    """

    __tablename__ = "alert_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str | None] = mapped_column(String(254))
    muted: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
