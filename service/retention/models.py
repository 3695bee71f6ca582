"""Legal holds: who put a case on hold and why, and who lifted it and why, kept for good."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from service.columns import UTCDateTime, utcnow
from service.extensions import Base

REASON_MAX = 500


class LegalHold(Base):
    """One period of legal hold on a case: set with a reason, and cleared with one.

    Reasons are free text a manager wrote about a case, so a purge deletes them with the case;
    the audit trail keeps, by id, that each hold was set and cleared.
    """

    __tablename__ = "legal_holds"
    __table_args__ = (Index("ix_legal_holds_case_id_set_at", "case_id", "set_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    set_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    set_reason: Mapped[str] = mapped_column(String(REASON_MAX))
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cleared_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    cleared_reason: Mapped[str | None] = mapped_column(String(REASON_MAX))
