"""Reading the trail: filtered event lists, a child's access log, CSV."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select

from service.audit.events import READS
from service.audit.models import AuditEvent
from service.auth.models import Device, User
from service.extensions import db

CSV_COLUMNS = (
    "id", "at", "actor_id", "actor_role", "action", "record_type", "record_id", "child_id",
    "remote_addr", "user_agent", "request_id", "device_id", "changed_fields",
    "snapshot_sha256", "details", "chain", "seq", "hash",
)  # fmt: skip
CSV_BATCH = 2000


def unnamed_actor(request_id: str | None) -> str:
    """Who did an event that names no actor, in words for a page: someone not signed in when a
    request did it (a sign-in refused or locked, a care leaver's form, a copied refresh token),
    otherwise the service itself (the outbox worker, a command run on the server).
    """
    return "Not signed in" if request_id else "The service"


def event_query(filters: dict[str, Any]) -> Select[Any]:
    """Events matching ``filters`` (actor, child, record, action, time), newest first."""
    query = select(AuditEvent)
    for name in ("actor_id", "child_id", "record_type", "record_id", "action"):
        if filters.get(name) is not None:
            query = query.where(getattr(AuditEvent, name) == filters[name])
    if filters.get("since"):
        query = query.where(AuditEvent.at >= filters["since"])
    if filters.get("until"):
        query = query.where(AuditEvent.at < filters["until"])
    return query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = " ".join(value)
    elif isinstance(value, dict):
        value = json.dumps(value, sort_keys=True, default=str) if value else ""
    elif isinstance(value, datetime):
        value = value.astimezone(UTC).isoformat()  # as the JSON answer gives it
    text = str(value)
    # A cell a spreadsheet would run as a formula is quoted as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def as_csv(query: Select[Any]) -> Iterator[str]:
    """The events as CSV, streamed in batches (an export can be millions of rows)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    for partition in db.session.scalars(query.execution_options(yield_per=CSV_BATCH)).partitions():
        buffer.seek(0)
        buffer.truncate()
        for event in partition:
            writer.writerow([_csv_cell(getattr(event, name)) for name in CSV_COLUMNS])
        yield buffer.getvalue()


def access_log(
    child_id: uuid.UUID, since: datetime | None = None, until: datetime | None = None
) -> Select[AuditEvent, str, str | None, str | None]:
    """Who read or changed the child's records: every event naming the child, newest first."""
    query = (
        select(AuditEvent, User.display_name, Device.name, Device.client_device_id)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .outerjoin(Device, Device.id == AuditEvent.device_id)
        .where(AuditEvent.child_id == child_id)
    )
    if since:
        query = query.where(AuditEvent.at >= since)
    if until:
        query = query.where(AuditEvent.at < until)
    return query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())


def access_log_entry(
    event: AuditEvent,
    actor_name: str | None,
    device_name: str | None,
    client_device_id: str | None = None,
) -> dict[str, Any]:
    """One row of the access log: ``device_id`` is our record of the device (as in
    ``GET /devices``), ``client_device_id`` the id the tablet gave itself.
    """
    return {
        "at": event.at,
        "actor_id": event.actor_id,
        "actor_name": actor_name,
        "actor_role": event.actor_role,
        "action": event.action,
        "record_type": event.record_type,
        "record_id": event.record_id,
        "device_id": event.device_id,
        "device_name": device_name,
        "client_device_id": client_device_id,
        "remote_addr": event.remote_addr,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "read": event.action in READS,
    }


def actor_names(actor_ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """The display names of the users who did what a page of events shows."""
    wanted = {actor_id for actor_id in actor_ids if actor_id is not None}
    if not wanted:
        return {}
    rows = db.session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
    return {user_id: name for user_id, name in rows}
