"""Review decisions: immutable, each tied to the exact submitted version it was made on."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.auth.models import User
from service.columns import UTCDateTime, utcnow
from service.extensions import Base

DECISIONS = ("approve", "return", "escalate")


class Review(Base):
    """A supervisor's decision on one submitted version of a visit."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint(f"decision IN {DECISIONS!r}", name="decision"),
        Index("ix_reviews_visit_id_decided_at", "visit_id", "decided_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"))
    version_number: Mapped[int] = mapped_column(
        doc="The VisitVersion (submission) this decision was made on"
    )
    reviewer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str | None] = mapped_column(Text)
    management_action: Mapped[str | None] = mapped_column(Text)
    management_due_by: Mapped[date | None]
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reviewer: Mapped[User] = relationship(lazy="joined")
