"""The unusual access report: reads an information governance team would want to look at.

Each hit is explained in a sentence. The rules (thresholds in config):

- ``not_allocated``: a worker or supervisor read a child none of whose cases is in their teams
  and who was never allocated to them (a child no longer held, after a purge, is not judged);
- ``out_of_hours``: a read outside AUDIT_WORKING_HOURS (local time), or at a weekend;
- ``heavy_reader``: more distinct children read in a day than AUDIT_HEAVY_READER_FACTOR times the
  reader's usual (their median over the previous 30 days) and at least AUDIT_HEAVY_READER_MINIMUM;
- ``dormant_reactivated``: an account's first access after AUDIT_DORMANT_DAYS without any;
- ``shared_surname``: a reader looked at a child who shares their surname;
- ``refused``: someone asked for records that exist but are not theirs to see.
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from service.audit.events import READS, Action
from service.audit.models import AuditEvent
from service.auth.models import User
from service.cases.models import Case, CaseAllocation, Child, case_children
from service.extensions import db

CHILD_READS = [str(action) for action in READS]


@dataclass(frozen=True)
class Hit:
    """One unusual access: which rule, who, which child, when, and why it is unusual."""

    rule: str
    actor_id: uuid.UUID | None
    actor_name: str | None
    child_id: uuid.UUID | None
    at: datetime
    explanation: str

    def as_dict(self) -> dict[str, object]:
        """The hit as plain values."""
        return asdict(self)

    def __str__(self) -> str:
        """One line for a person."""
        return f"{self.at:%Y-%m-%d %H:%M} {self.rule}: {self.explanation}"


def _surname(name: str | None) -> str:
    words = (name or "").replace("-", " ").split()
    return words[-1].casefold() if words else ""


def _events(since: datetime, until: datetime) -> list[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(AuditEvent.at >= since, AuditEvent.at < until, AuditEvent.actor_id.is_not(None))
        .where(AuditEvent.action.in_([*CHILD_READS, str(Action.DENIED)]))
        .order_by(AuditEvent.at)
    )
    return list(db.session.scalars(query))


def _child_teams(child_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
    teams: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    rows = db.session.execute(
        select(case_children.c.child_id, Case.team_id)
        .join(Case, Case.id == case_children.c.case_id)
        .where(case_children.c.child_id.in_(list(child_ids)))
    )
    for child_id, team_id in rows:
        teams[child_id].add(team_id)
    return teams


def _child_workers(child_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Everyone ever allocated one of each child's cases (a reallocation is not a stranger)."""
    workers: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    rows = db.session.execute(
        select(case_children.c.child_id, CaseAllocation.worker_id)
        .join(CaseAllocation, CaseAllocation.case_id == case_children.c.case_id)
        .where(case_children.c.child_id.in_(list(child_ids)))
    )
    for child_id, worker_id in rows:
        workers[child_id].add(worker_id)
    return workers


def _out_of_hours(moment: datetime, hours: tuple[int, int], zone: ZoneInfo) -> bool:
    local = moment.astimezone(zone)
    return local.weekday() >= 5 or not hours[0] <= local.hour < hours[1]


def _usual_daily_children(actor_id: uuid.UUID, before: datetime) -> float:
    day = func.date(AuditEvent.at)
    per_day = db.session.execute(
        select(day, func.count(func.distinct(AuditEvent.child_id)))
        .where(
            AuditEvent.actor_id == actor_id,
            AuditEvent.action.in_(CHILD_READS),
            AuditEvent.at >= before - timedelta(days=30),
            AuditEvent.at < before,
        )
        .group_by(day)
    ).all()
    counts = [count for _, count in per_day]
    return statistics.median(counts) if counts else 0.0


def _last_activity_before(actor_id: uuid.UUID, moment: datetime) -> datetime | None:
    return db.session.scalar(
        select(func.max(AuditEvent.at)).where(
            AuditEvent.actor_id == actor_id, AuditEvent.at < moment
        )
    )


def report(since: datetime, until: datetime | None = None) -> list[Hit]:
    """Every unusual access between ``since`` and ``until`` (now), oldest first."""
    config = current_app.config
    until = until or datetime.now(since.tzinfo)
    events = _events(since, until)
    users = {
        u.id: u
        for u in db.session.scalars(select(User).where(User.id.in_({e.actor_id for e in events})))
    }
    child_ids = {e.child_id for e in events if e.child_id}
    children = {c.id: c for c in db.session.scalars(select(Child).where(Child.id.in_(child_ids)))}
    teams = _child_teams(child_ids)
    workers = _child_workers(child_ids)
    zone = ZoneInfo(config["LOCAL_TIMEZONE"])
    hours = tuple(config["AUDIT_WORKING_HOURS"])
    hits: list[Hit] = []
    flagged: set[tuple[str, uuid.UUID | None, uuid.UUID | None, date]] = set()

    def hit(rule: str, event: AuditEvent, explanation: str) -> None:
        key = (rule, event.actor_id, event.child_id, event.at.date())
        if key not in flagged:  # once per rule, reader, child and day
            flagged.add(key)
            user = users.get(event.actor_id) if event.actor_id else None
            name = user.display_name if user else None
            hits.append(Hit(rule, event.actor_id, name, event.child_id, event.at, explanation))

    daily: dict[tuple[uuid.UUID, date], set[uuid.UUID]] = defaultdict(set)
    first_seen: dict[uuid.UUID, AuditEvent] = {}
    for event in events:
        user = users.get(event.actor_id) if event.actor_id else None
        if user is None:
            continue
        who = f"{user.display_name} ({user.role})"
        first_seen.setdefault(user.id, event)
        if event.action == Action.DENIED:
            target = f"{event.record_type.replace('_', ' ')} {event.record_id}"
            if event.record_type == "operation":
                target = f"the operation {event.record_id}"
            by_role = event.details.get("refused_for") == "role"
            why = "not allowed for their role" if by_role else "not theirs to see"
            hit("refused", event, f"{who} was refused {target}: {why}")
            continue
        if event.child_id is None:
            continue
        daily[(user.id, event.at.date())].add(event.child_id)
        if (
            user.role in ("social_worker", "supervisor")
            and event.child_id in teams  # a child no longer held (purged) cannot be judged
            and not teams[event.child_id] & user.team_ids
            and user.id not in workers.get(event.child_id, set())
        ):
            hit(
                "not_allocated", event, f"{who} read a child whose cases are in none of their teams"
            )
        if _out_of_hours(event.at, hours, zone):
            local = event.at.astimezone(zone)
            hit(
                "out_of_hours", event, f"{who} read a child's record at {local:%a %H:%M} local time"
            )
        child = children.get(event.child_id)
        if (
            child is not None
            and _surname(child.name)
            and _surname(child.name) == _surname(user.display_name)
        ):
            hit("shared_surname", event, f"{who} read a child who shares their surname")
    factor = config["AUDIT_HEAVY_READER_FACTOR"]
    minimum = config["AUDIT_HEAVY_READER_MINIMUM"]
    for (actor_id, day), read in daily.items():
        if len(read) < minimum:
            continue
        day_start = datetime.combine(day, datetime.min.time(), since.tzinfo)
        usual = _usual_daily_children(actor_id, day_start)
        if len(read) > factor * max(usual, 1):
            event = next(e for e in events if e.actor_id == actor_id and e.at.date() == day)
            user = users[actor_id]
            hit(
                "heavy_reader",
                event,
                f"{user.display_name} ({user.role}) read {len(read)} children on {day}, "
                f"against a usual {usual:g} a day",
            )
    dormant = timedelta(days=config["AUDIT_DORMANT_DAYS"])
    for actor_id, event in first_seen.items():
        previous = _last_activity_before(actor_id, event.at)
        if previous is not None and event.at - previous >= dormant:
            user = users[actor_id]
            hit(
                "dormant_reactivated",
                event,
                f"{user.display_name} ({user.role}) was active again after "
                f"{(event.at - previous).days} days without any access",
            )
    return sorted(hits, key=lambda h: h.at)
