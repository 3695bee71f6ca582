"""Cases from the core case system, and the children on them with their visit timescales."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    String,
    Table,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.auth.models import Team, User
from service.columns import UTCDateTime, utcnow
from service.extensions import Base
from service.retention.periods import RETENTION_CLASSES
from service.timescales import PLAN_TYPES

CASE_STATUSES = ("open", "closed")

case_children = Table(
    "case_children",
    Base.metadata,
    Column("case_id", ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
    Column("child_id", ForeignKey("children.id", ondelete="CASCADE"), primary_key=True),
    # Copied from the case and the child at every commit that changes either (see
    # service/sync/changes.py), so the overdue list of a team or a worker is one ordered range
    # of one index, however many children the council has.
    Column("team_id", ForeignKey("teams.id")),
    Column("allocated_worker_id", ForeignKey("users.id")),
    Column("case_open", Boolean, nullable=False, default=True, server_default=true()),
    Column("next_visit_due", Date),
    Index("ix_case_children_child_id", "child_id"),
    # Each holds the overdue list's whole sort order, so a page is read in order and stops at 50.
    Index(
        "ix_case_children_team_due", "team_id", "case_open", "next_visit_due", "child_id", "case_id"
    ),
    Index(
        "ix_case_children_worker_due",
        "allocated_worker_id",
        "case_open",
        "next_visit_due",
        "child_id",
        "case_id",
    ),
    Index("ix_case_children_open_due", "case_open", "next_visit_due", "child_id", "case_id"),
)


class Case(Base):
    """A case as the core system knows it, allocated to one worker in one team."""

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(f"status IN {CASE_STATUSES!r}", name="status"),
        CheckConstraint(f"retention_class IN {RETENTION_CLASSES!r}", name="retention_class"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    core_ref: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="open")
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id"), index=True)
    allocated_worker_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id"), index=True
    )
    opened_on: Mapped[date]
    closed_on: Mapped[date | None]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # Stamped at commit from the change counter: what sync cursors compare against.
    change_seq: Mapped[int | None] = mapped_column(BigInteger, index=True)
    # Retention (service/retention): kept current from the children and the submitted visits.
    retention_class: Mapped[str] = mapped_column(
        String(20), default="child_in_need", server_default="child_in_need"
    )
    disposal_date: Mapped[date | None] = mapped_column(index=True)
    legal_hold: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Set when a purge starts: from then on the case is absent everywhere (service/policy.py).
    purging_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    team: Mapped[Team] = relationship(lazy="joined")
    allocated_worker: Mapped[User | None] = relationship(lazy="joined")
    children: Mapped[list[Child]] = relationship(
        secondary=case_children, back_populates="cases", order_by="Child.name"
    )


class Child(Base):
    """A child, with the derived fields that say when they were last seen and are next due."""

    __tablename__ = "children"
    __table_args__ = (CheckConstraint(f"plan_type IN {PLAN_TYPES!r}", name="plan_type"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    core_person_ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[date | None]
    plan_type: Mapped[str] = mapped_column(String(30))
    plan_start_date: Mapped[date]
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_seen_alone_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The latest statutory visit at which the child was seen: the one timescales count from.
    last_statutory_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_visit_due: Mapped[date] = mapped_column(index=True)
    # How many of the child's latest submitted visits in a row recorded none of their views.
    visits_without_views: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    change_seq: Mapped[int | None] = mapped_column(BigInteger, index=True)
    cases: Mapped[list[Case]] = relationship(secondary=case_children, back_populates="children")


class CaseAllocation(Base):
    """Who was allocated a case and when: a visit made while allocated is accepted later."""

    __tablename__ = "case_allocations"
    __table_args__ = (Index("ix_case_allocations_case_id_worker_id", "case_id", "worker_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    worker_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    allocated_from: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    allocated_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Declared so the unit of work inserts the case before its first allocation.
    case: Mapped[Case] = relationship()


class ChildPlanEvent(Base):
    """A child's plan as it was set at one moment: the plan changes in their chronology."""

    __tablename__ = "child_plan_events"
    __table_args__ = (
        Index("ix_child_plan_events_child_id_recorded_at", "child_id", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    child_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"))
    plan_type: Mapped[str] = mapped_column(String(30))
    plan_start_date: Mapped[date]
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    child: Mapped[Child] = relationship()
