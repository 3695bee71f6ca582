"""Visits, what happened to each child on them (with the child's own voice), and their history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.auth.models import User
from service.cases.models import Case, Child
from service.columns import UTCDateTime, utcnow
from service.extensions import Base

VISIT_TYPES = ("statutory", "review", "core_group", "other")
VISIT_STATUSES = ("draft", "submitted", "approved", "returned")
NOT_SEEN_REASONS = ("child_not_home", "no_access", "parent_refused", "child_refused", "other")
NOT_SEEN_ALONE_REASONS = (
    "child_refused",
    "inappropriate_age_understanding",
    "unable",
    "parent_refused",
)
VOICE_METHODS = ("talking", "drawing", "play", "app", "observation", "written")
SCORED_BY = ("child", "parent", "worker")


class Visit(Base):
    """A visit to the children of one case, identified by the UUID the tablet chose."""

    __tablename__ = "visits"
    __table_args__ = (
        CheckConstraint(f"visit_type IN {VISIT_TYPES!r}", name="visit_type"),
        CheckConstraint(f"status IN {VISIT_STATUSES!r}", name="status"),
        Index("ix_visits_case_id_started_at", "case_id", "started_at"),
        Index("ix_visits_worker_id_status", "worker_id", "status"),
        Index("ix_visits_status_last_submitted_at", "status", "last_submitted_at"),
        Index("ix_visits_started_at", "started_at"),
        Index("ix_visits_recorded_late_submitted_at", "recorded_late", "submitted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    worker_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    visit_type: Mapped[str] = mapped_column(String(20))
    announced: Mapped[bool | None]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    location: Mapped[str | None] = mapped_column(String(100))
    people_present: Mapped[list[str]] = mapped_column(JSON, default=list)
    observations: Mapped[str | None] = mapped_column(Text)
    analysis: Mapped[str | None] = mapped_column(Text)
    next_actions: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="draft")
    # Bumped on every change; the ETag and the sync base_version.
    version: Mapped[int] = mapped_column(Integer, default=1)
    # A digest of the last body PUT, so an exact replay is recognised without diffing rows.
    content_digest: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    amendment_reason: Mapped[str | None] = mapped_column(Text)
    # Set at the first submission: a statutory visit written up too long after it happened.
    recorded_late: Mapped[bool] = mapped_column(default=False)
    # The team holding the case when the visit was recorded, and how many children were seen
    # (and seen alone) at the last submission: what the oversight summary adds up.
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id"))
    children_seen: Mapped[int] = mapped_column(default=0)
    children_seen_alone: Mapped[int] = mapped_column(default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    change_seq: Mapped[int | None] = mapped_column(BigInteger, index=True)
    case: Mapped[Case] = relationship(lazy="joined")
    worker: Mapped[User] = relationship(lazy="joined")
    children: Mapped[list[VisitChild]] = relationship(
        back_populates="visit",
        cascade="all, delete-orphan",
        order_by="VisitChild.position",
        lazy="selectin",
    )


class VisitChild(Base):
    """One child on one visit: seen or not, seen alone or not, and the child's voice."""

    __tablename__ = "visit_children"
    __table_args__ = (
        UniqueConstraint("visit_id", "child_id"),
        Index("ix_visit_children_child_id", "child_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"))
    child_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("children.id"))
    position: Mapped[int] = mapped_column(default=0)
    seen: Mapped[bool | None]
    seen_alone: Mapped[bool | None]
    not_seen_reason: Mapped[str | None] = mapped_column(String(30))
    not_seen_detail: Mapped[str | None] = mapped_column(Text)
    not_seen_alone_reason: Mapped[str | None] = mapped_column(String(40))
    not_seen_alone_detail: Mapped[str | None] = mapped_column(Text)
    bedroom_seen: Mapped[bool | None]
    # The voice of the child: their own words verbatim, apart from the worker's interpretation.
    own_words: Mapped[str | None] = mapped_column(Text)
    wishes_and_feelings: Mapped[str | None] = mapped_column(Text)
    good_things: Mapped[str | None] = mapped_column(Text)
    worries: Mapped[str | None] = mapped_column(Text)
    dreams: Mapped[str | None] = mapped_column(Text)
    scale_score: Mapped[int | None]
    scale_question: Mapped[str | None] = mapped_column(String(500))
    scale_scored_by: Mapped[str | None] = mapped_column(String(10))
    voice_method: Mapped[str | None] = mapped_column(String(20))
    consent_to_share: Mapped[bool | None]
    views_not_gathered_reason: Mapped[str | None] = mapped_column(Text)
    visit: Mapped[Visit] = relationship(back_populates="children")
    child: Mapped[Child] = relationship(lazy="joined")

    @property
    def child_name(self) -> str:
        """The child's name, for display."""
        return self.child.name

    @property
    def voice(self) -> dict[str, Any] | None:
        """The voice of the child as one object, or None when nothing was recorded."""
        scale = None
        if self.scale_score is not None:
            scale = {
                "score": self.scale_score,
                "question": self.scale_question,
                "scored_by": self.scale_scored_by,
            }
        voice = {
            "own_words": self.own_words,
            "wishes_and_feelings": self.wishes_and_feelings,
            "good_things": self.good_things,
            "worries": self.worries,
            "dreams": self.dreams,
            "scale": scale,
            "method": self.voice_method,
            "consent_to_share": self.consent_to_share,
            "not_gathered_reason": self.views_not_gathered_reason,
        }
        return voice if any(value is not None for value in voice.values()) else None

    def has_views(self) -> bool:
        """Whether any of the child's views were captured in words, houses or a scale.

        A drawing attached to the child counts too; the submission rules check that.
        """
        return (
            any(
                value
                for value in (
                    self.own_words,
                    self.wishes_and_feelings,
                    self.good_things,
                    self.worries,
                    self.dreams,
                )
            )
            or self.scale_score is not None
        )


class VisitVersion(Base):
    """An immutable snapshot taken at every submit: exactly what a supervisor reviewed."""

    __tablename__ = "visit_versions"
    __table_args__ = (UniqueConstraint("visit_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"), index=True)
    number: Mapped[int]
    visit_version: Mapped[int]
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    amendment_reason: Mapped[str | None] = mapped_column(Text)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
