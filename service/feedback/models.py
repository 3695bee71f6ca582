"""Feedback from care leavers, and the personal links that tie it to their record."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.columns import UTCDateTime, utcnow
from service.extensions import Base

TRIAGE_STATUSES = ("new", "contacted", "closed")
TRIAGE_NOTE_MAX = 2000  # characters in one triage note
# The answer options of the non-scale questions, in the order the form shows them.
CHOICES = {
    "settled": ("yes", "mostly", "not_really", "no"),
    "trusted_person": ("yes", "not_sure", "no"),
    "adviser_support": ("very_helpful", "helpful", "not_helpful", "no_adviser"),
    "coping_with_money": ("fine", "just_about", "struggling"),
    "safe_at_home": ("yes", "mostly", "no"),
}
SCALES = ("life_satisfaction", "worthwhile", "happy_yesterday", "anxious_yesterday")


class FeedbackInvite(Base):
    """A personal link for one care leaver, so their answers join their record."""

    __tablename__ = "feedback_invites"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    child_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("children.id"), index=True)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The link may be used once in each period of this many days.
    period_days: Mapped[int] = mapped_column(default=30)


class Feedback(Base):
    """One response to the care-leaver form."""

    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint(f"triage_status IN {TRIAGE_STATUSES!r}", name="triage_status"),
        Index("ix_feedback_urgent_submitted_at", "urgent", "submitted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    language: Mapped[str] = mapped_column(String(2), default="en")
    life_satisfaction: Mapped[int | None]
    worthwhile: Mapped[int | None]
    happy_yesterday: Mapped[int | None]
    anxious_yesterday: Mapped[int | None]
    settled: Mapped[str | None] = mapped_column(String(20))
    trusted_person: Mapped[str | None] = mapped_column(String(20))
    adviser_support: Mapped[str | None] = mapped_column(String(20))
    coping_with_money: Mapped[str | None] = mapped_column(String(20))
    safe_at_home: Mapped[str | None] = mapped_column(String(20))
    anything_else: Mapped[str | None] = mapped_column(Text)
    wants_contact: Mapped[bool] = mapped_column(default=False)
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_detail: Mapped[str | None] = mapped_column(String(200))
    urgent: Mapped[bool] = mapped_column(default=False)
    invite_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("feedback_invites.id"), index=True
    )
    child_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("children.id"), index=True)
    triage_status: Mapped[str] = mapped_column(String(10), default="new")
    triage_note: Mapped[str | None] = mapped_column(Text)
    triaged_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    triaged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FeedbackTriageNote(Base):
    """One step of a response's triage: the status it moved to, the note, who and when.

    Appended at every triage and never changed, so an earlier note is never lost when a later
    one is written (``Feedback.triage_note`` holds only the latest). Only retention purge
    removes them, with the response they belong to.
    """

    __tablename__ = "feedback_triage_notes"
    __table_args__ = (
        CheckConstraint(f"status IN {TRIAGE_STATUSES!r}", name="status"),
        Index("ix_feedback_triage_notes_feedback_id_at", "feedback_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    feedback_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("feedback.id"))
    status: Mapped[str] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(Text)
    by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
