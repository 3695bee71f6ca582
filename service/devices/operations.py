"""Listing and revoking devices. Revocation lives in the database, so every instance sees it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select, update

from service.audit.events import Action, Subject
from service.audit.trail import record
from service.auth.models import AuthSession, Device, User
from service.columns import utcnow
from service.errors import NotFound
from service.extensions import db


def device_query(user: User) -> Select[Any]:
    """Devices ``user`` may see: their own, or every device for an admin."""
    query = select(Device).order_by(Device.registered_at, Device.id)
    if user.role != "admin":
        query = query.where(Device.user_id == user.id)
    return query


def revoke_device(user: User, device_id: uuid.UUID) -> Device:
    """Revoke a device (owner or admin): its sessions end and it cannot sign in again."""
    device = db.session.get(Device, device_id)
    if device is None or (user.role != "admin" and device.user_id != user.id):
        raise NotFound("device.not_found", "No such device.")
    now = utcnow()
    if device.revoked_at is None:
        device.revoked_at = now
    db.session.execute(
        update(AuthSession)
        .where(AuthSession.device_id == device.id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason="device_revoked")
    )
    db.session.flush()
    record(Action.REVOKE, Subject("device", device.id), actor=user, owner=device.user_id)
    return device
