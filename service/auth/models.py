"""Teams, users, their devices, and the refresh-token families that sign them in."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.columns import UTCDateTime, utcnow
from service.extensions import Base

ROLES = ("social_worker", "supervisor", "manager", "admin")

team_memberships = Table(
    "team_memberships",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
)


class Team(Base):
    """A team of social workers and their supervisors, e.g. ``north``."""

    __tablename__ = "teams"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    members: Mapped[list[User]] = relationship(secondary=team_memberships, back_populates="teams")


class User(Base):
    """Someone who signs in: a social worker, supervisor, manager or admin."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="role"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    # None for accounts that only sign in through the council's identity provider.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    teams: Mapped[list[Team]] = relationship(
        # Loaded when asked for: only supervisors' scope and /me need them, not every request.
        secondary=team_memberships,
        back_populates="members",
        lazy="select",
    )

    @property
    def team_ids(self) -> set[uuid.UUID]:
        """The ids of the teams this user belongs to."""
        return {team.id for team in self.teams}


# One account per username in any mix of capitals, kept by the database and not only by
# ``create_user``'s check (two admins at the same instant pass it both); sign-in's
# ``lower(username)`` lookup reads this index on PostgreSQL.
Index("uq_users_username_lower", func.lower(User.username), unique=True)


class Device(Base):
    """A registered tablet; revoking it ends every token issued to it at once."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("user_id", "client_device_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_device_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(200))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuthSession(Base):
    """One sign-in: a family of rotating refresh tokens, and the access tokens minted from it."""

    __tablename__ = "auth_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    device_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(50))
    user: Mapped[User] = relationship(lazy="joined")
    device: Mapped[Device | None] = relationship(lazy="joined")


class RefreshToken(Base):
    """A refresh token, stored only as its SHA-256; ``replaced_at`` is set when it is rotated."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    session: Mapped[AuthSession] = relationship(lazy="joined")
