"""Visits, what happened to each child on them (with the child's own voice), and their history."""

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
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.auth.models import User
from service.cases.models import Case, Child
from service.columns import UTCDateTime, utcnow
from service.extensions import Base

VISIT_TYPES = ("statutory", "review", "core_group", "other")


class VisitStatus(StrEnum):
    """Where a visit is in its life; only ``service.visits.lifecycle`` moves it on."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    RETURNED = "returned"


VISIT_STATUSES = tuple(status.value for status in VisitStatus)
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
        # The dashboard's late recordings by team, and a team's statutory visits by month,
        # read from the index alone on PostgreSQL (see migration 0014).
        Index(
            "ix_visits_recorded_late_submitted_at",
            "recorded_late",
            "submitted_at",
            postgresql_include=["team_id"],
        ),
        Index(
            "ix_visits_team_id_started_at",
            "team_id",
            "started_at",
            postgresql_include=[
                "visit_type",
                "submitted_at",
                "children_seen",
                "children_seen_alone",
            ],
        ),
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
    # Both set only by service.visits.lifecycle: the version is bumped by every change, through
    # a conditional UPDATE, and is the ETag and the sync base_version.
    status: Mapped[str] = mapped_column(String(12), default=VisitStatus.DRAFT)
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


class VisitVersion(Base):
    """An immutable snapshot taken at every submit: exactly what a supervisor reviewed.

    ``snapshot`` is in the visit's own record format (``service.visits.record``), numbered by
    ``format``; ``sha256`` is the digest of its canonical JSON, so a later reader can prove the
    snapshot is the one that was submitted.
    """

    __tablename__ = "visit_versions"
    __table_args__ = (UniqueConstraint("visit_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"), index=True)
    number: Mapped[int]
    visit_version: Mapped[int]
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    amendment_reason: Mapped[str | None] = mapped_column(Text)
    format: Mapped[int] = mapped_column(default=1)
    sha256: Mapped[str] = mapped_column(String(64))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)


class RecordedChild(Base):
    """One child as the latest submitted version of one visit records them.

    A copy of part of that version's snapshot, replaced at every submission, so that what is
    derived from the record (last seen, next due, queue flags, the chronology) reads one indexed
    table instead of parsing snapshots; it always equals a rebuild from the versions.
    """

    __tablename__ = "visit_record_children"
    __table_args__ = (
        Index("ix_visit_record_children_child_id_started_at", "child_id", "started_at"),
        # The dashboard's twelve months: only the visits counted for timescales, with what it
        # adds, a team's together (read without touching a visit: see migration 0014).
        Index(
            "ix_visit_record_children_team_timed",
            "team_id",
            "started_at",
            "in_time",
            postgresql_where=text("in_time IS NOT NULL"),
            sqlite_where=text("in_time IS NOT NULL"),
        ),
    )

    visit_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("visits.id", ondelete="CASCADE"), primary_key=True
    )
    child_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("children.id"), primary_key=True)
    version_number: Mapped[int]
    worker_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    # The visit's team (set when it was created, never changed), copied so that the dashboard
    # adds up a team's in-time flags from this table alone.
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id"))
    visit_type: Mapped[str] = mapped_column(String(20))
    announced: Mapped[bool | None]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seen: Mapped[bool]
    seen_alone: Mapped[bool]
    has_views: Mapped[bool]
    # Whether the visit was made by the date the child was due (service/timescales/timeliness.py);
    # NULL where it does not count for timescales. Kept by service.visits.derived, never copied
    # from the version: a later plan change or a visit synced late can change it.
    in_time: Mapped[bool | None]
    # The child's entry in the snapshot: what they said and how they were seen, as submitted.
    entry: Mapped[dict[str, Any]] = mapped_column(JSON)
