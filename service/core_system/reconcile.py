"""Read back what the core system holds and compare it with what was delivered.

For every visit whose latest message was delivered, the core system should hold that version,
exactly as sent: a record it no longer holds, or holds at another version or with other
content (compared by the SHA-256 of the canonical JSON), is reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, select

from service.core_system import payload
from service.core_system.adapters import CoreSystem, DeliveryFailed
from service.core_system.models import CORE_SYSTEM, MessageStatus, OutboxMessage
from service.extensions import db


@dataclass(frozen=True)
class Difference:
    """One delivered visit the core system does not hold as delivered."""

    visit_id: str
    version: int
    problem: str  # missing | other_version | different | unreadable

    def __str__(self) -> str:
        return f"visit {self.visit_id} version {self.version}: {self.problem.replace('_', ' ')}"


def latest_delivered(batch: int = 500) -> Iterator[OutboxMessage]:
    """The latest delivered message of each visit, in visit order, read a batch at a time."""
    latest = (
        select(func.max(OutboxMessage.id))
        .where(
            OutboxMessage.status == MessageStatus.DELIVERED,
            OutboxMessage.destination == CORE_SYSTEM,
        )
        .group_by(OutboxMessage.visit_id)
    )
    ids = list(db.session.scalars(latest))
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        yield from db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.id.in_(chunk)).order_by(OutboxMessage.id)
        )


def reconcile(adapter: CoreSystem) -> tuple[int, list[Difference]]:
    """Compare every delivered visit with the core system's copy: (checked, differences)."""
    checked, differences = 0, []
    for message in latest_delivered():
        checked += 1
        visit_id = str(message.visit_id)
        try:
            held = adapter.read_back(visit_id)
        except DeliveryFailed:
            differences.append(Difference(visit_id, message.version_number or 0, "unreadable"))
            continue
        if held is None:
            problem = "missing"
        elif held.version != message.version_number:
            problem = "other_version"
        elif held.payload is None or payload.digest(held.payload) != message.payload_sha256:
            problem = "different"
        else:
            continue
        differences.append(Difference(visit_id, message.version_number or 0, problem))
    return checked, differences
