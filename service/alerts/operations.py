"""Raising alerts, in the transaction of what caused them, and reading and acknowledging them.

:func:`raise_alert` keeps one :class:`Alert` per person told (the database refuses a second for
the same kind and key) and, when an email channel is configured, queues an outbox message per
address (``destination`` ``alert``), delivered by the outbox worker with its retries and dead
letters. Urgent kinds are queued to go at once; the others wait out ``ALERTS_QUIET_HOURS``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Select, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from service.alerts import kinds
from service.alerts.channels import channel
from service.alerts.models import Alert, AlertPreference
from service.auth.models import User, team_memberships
from service.columns import utcnow
from service.core_system import payload as payloads
from service.core_system.models import ALERT, MessageStatus, OutboxMessage
from service.errors import NotFound, ValidationFailed
from service.extensions import db


def _insert_alert(values: dict[str, Any]) -> int | None:
    """Insert one alert unless the person already has it (same kind and key): its id, or None.

    ``ON CONFLICT DO NOTHING``: of two workers scanning at once, the database lets one in.
    """
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(Alert)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["user_id", "kind", "dedupe_key"])
        .returning(Alert.id)
    )
    return db.session.scalar(statement)


def preferences_of(user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, AlertPreference]:
    """Each person's stored preferences (people with none are missing from the answer)."""
    ids = list(user_ids)
    if not ids:
        return {}
    rows = db.session.scalars(select(AlertPreference).where(AlertPreference.user_id.in_(ids)))
    return {row.user_id: row for row in rows}


def emailed(kind: str, preference: AlertPreference | None) -> str | None:
    """The address an alert of ``kind`` goes to for this person, if any (not switched off)."""
    if preference is None or not preference.email:
        return None
    mandatory = kind in current_app.config["ALERTS_MANDATORY"]
    if not mandatory and kind in (preference.muted or []):
        return None
    return preference.email


def send_at(kind: str, now: datetime) -> datetime:
    """When an email of ``kind`` may go: now, or (not urgent) at the end of the quiet hours."""
    quiet = current_app.config["ALERTS_QUIET_HOURS"]
    if kind in kinds.URGENT_KINDS or quiet is None:
        return now
    zone = ZoneInfo(current_app.config["LOCAL_TIMEZONE"])
    local = now.astimezone(zone)
    start, end = quiet
    hour = local.hour
    inside = start <= hour < end if start < end else (hour >= start or hour < end)
    if not inside:
        return now
    day = local.date() if hour < end else local.date() + timedelta(days=1)
    return datetime.combine(day, time(end), zone)


def queue_email(kind: str, dedupe_key: str, path: str, count: int, to: str) -> bool:
    """Queue one alert email in the outbox (in the current transaction); False if no channel
    is configured, or the same email is queued already.
    """
    if channel(current_app.config) is None:
        return False
    now = utcnow()
    key = "alert:" + hashlib.sha256(f"{kind}\n{dedupe_key}\n{to}".encode()).hexdigest()
    exists = db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))
    if exists is not None:
        return False
    body = {"kind": kind, "count": count, "path": path, "to": to}
    db.session.add(
        OutboxMessage(
            destination=ALERT,
            event=f"alert.{kind}",
            idempotency_key=key,
            payload=body,
            payload_sha256=payloads.digest(body),
            status=MessageStatus.PENDING,
            attempts=0,
            next_attempt_at=send_at(kind, now),
            created_at=now,
        )
    )
    return True


def raise_alert(
    kind: str,
    users: Iterable[User],
    dedupe_key: str,
    path: str,
    count: int = 1,
    *,
    addresses: Iterable[str] = (),
    email: bool = True,
) -> list[int]:
    """Tell ``users`` (in the service, and by email where they have an address) and
    ``addresses`` (by email only) that ``count`` things of ``kind`` wait at ``path``; with
    ``email`` false, in the service only.

    Idempotent per person, kind and ``dedupe_key``. Returns the ids of the alerts made now.
    """
    people = {user.id: user for user in users if user.active}
    preferences = preferences_of(people)
    made, send_to = [], list(dict.fromkeys(addresses))
    for user_id in people:
        alert_id = _insert_alert(
            {
                "user_id": user_id,
                "kind": kind,
                "dedupe_key": dedupe_key,
                "count": count,
                "path": path,
                "urgent": kind in kinds.URGENT_KINDS,
                "created_at": utcnow(),
            }
        )
        if alert_id is None:
            continue
        made.append(alert_id)
        address = emailed(kind, preferences.get(user_id))
        if address and address not in send_to:
            send_to.append(address)
    for address in send_to if email else []:
        queue_email(kind, dedupe_key, path, count, address)
    db.session.flush()
    return made


def people_with_role(role: str, team_id: uuid.UUID | None = None) -> list[User]:
    """Active users with ``role`` (in ``team_id`` when given)."""
    query = select(User).where(User.role == role, User.active.is_(True))
    if team_id is not None:
        query = query.join(team_memberships, team_memberships.c.user_id == User.id).where(
            team_memberships.c.team_id == team_id
        )
    return list(db.session.scalars(query.order_by(User.username)))


def my_alerts(user: User, filters: dict[str, Any]) -> Select[Any]:
    """The signed-in person's own alerts, newest first (filters: kind, acknowledged)."""
    query = select(Alert).where(Alert.user_id == user.id)
    if filters.get("kind"):
        query = query.where(Alert.kind == filters["kind"])
    if filters.get("acknowledged") is not None:
        acknowledged = Alert.acknowledged_at.is_not(None)
        query = query.where(acknowledged if filters["acknowledged"] else ~acknowledged)
    return query.order_by(Alert.id.desc())


def acknowledge(user: User, alert_id: int) -> tuple[Alert, bool]:
    """Mark one of the person's own alerts seen; again, it changes nothing (the first time
    stays). Someone else's alert is a 404, exactly as a missing one. Also says whether this
    call was the one that acknowledged it.
    """
    alert = db.session.get(Alert, alert_id)
    if alert is None or alert.user_id != user.id:
        raise NotFound("alert.not_found", "No such alert.")
    changed = db.session.scalar(
        update(Alert)
        .where(Alert.id == alert.id, Alert.acknowledged_at.is_(None))
        .values(acknowledged_at=utcnow())
        .returning(Alert.id)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(alert)
    return alert, changed is not None


def urgent_alerts(filters: dict[str, Any]) -> Select[*tuple[Any, ...]]:
    """Urgent alerts and their recipients, newest first, for a manager: acknowledged or not,
    by whom and when (filter: acknowledged).
    """
    query = select(Alert, User).join(User, User.id == Alert.user_id).where(Alert.urgent.is_(True))
    if filters.get("acknowledged") is not None:
        acknowledged = Alert.acknowledged_at.is_not(None)
        query = query.where(acknowledged if filters["acknowledged"] else ~acknowledged)
    return query.order_by(Alert.id.desc())


def preferences(user: User) -> dict[str, Any]:
    """The person's alert preferences: address, kinds switched off, kinds they cannot."""
    stored = db.session.get(AlertPreference, user.id)
    return {
        "email": stored.email if stored else None,
        "muted": sorted(stored.muted or []) if stored else [],
        "mandatory": sorted(current_app.config["ALERTS_MANDATORY"]),
        "kinds": list(kinds.KINDS),
    }


def set_muted(user: User, muted: list[str]) -> dict[str, Any]:
    """Switch off the kinds in ``muted`` (by email; they stay listed in the service). A kind
    the council marks mandatory cannot be switched off (422).
    """
    mandatory = set(current_app.config["ALERTS_MANDATORY"]) & set(muted)
    if mandatory:
        raise ValidationFailed(
            "alert.mandatory",
            "The council requires these alerts; they cannot be switched off.",
            errors={"muted": [f"Mandatory: {', '.join(sorted(mandatory))}."]},
        )
    stored = db.session.get(AlertPreference, user.id)
    if stored is None:
        stored = AlertPreference(user_id=user.id, email=None, muted=[])
        db.session.add(stored)
    stored.muted = sorted(set(muted))
    stored.updated_at = utcnow()
    db.session.flush()
    return preferences(user)


def set_address(user: User, email: str | None) -> None:
    """Set (or, with None, remove) the address a person's alerts are emailed to (an admin's
    command, ``flask alerts address``).
    """
    stored = db.session.get(AlertPreference, user.id)
    if stored is None:
        stored = AlertPreference(user_id=user.id, email=email, muted=[])
        db.session.add(stored)
    stored.email = email
    stored.updated_at = utcnow()
    db.session.flush()
