"""The scheduled alerts, made once a day per person and kind at ``ALERTS_DIGEST_HOUR``.

The outbox worker runs :func:`scan` every ``ALERTS_SCAN_INTERVAL_SECONDS`` (and ``flask alerts
scan`` runs it once). Before the digest hour it does nothing; from then on, each person gets at
most one alert of each kind that day, however many workers scan at once: the key is the day,
and the database refuses a second (service/alerts/operations.py).

- ``visits_due``: children whose next statutory visit is due within 2 working days or overdue,
  to their allocated worker and their team's supervisors;
- ``review_waiting``: visits awaiting review longer than ``REVIEW_WAIT_ALERT_WORKING_DAYS``,
  to the team's supervisors;
- ``decision_overdue``: a management decision's ``due_by`` passed with no later visit where
  the child was seen, to the team's supervisors and the managers.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, select
from sqlalchemy.orm import aliased

from service.alerts import kinds, operations
from service.auth.models import User, team_memberships
from service.cases.models import Case, case_children
from service.columns import utcnow
from service.extensions import db
from service.links import path_for
from service.reviews.models import Review
from service.timescales.calendar import add_working_days, local_date
from service.visits.models import RecordedChild, Visit, VisitStatus

DUE_WITHIN_WORKING_DAYS = 2
# The day this process last finished a scan: the worker looks every few minutes, and once a
# day's alerts are made there is nothing more to do until tomorrow (another process's scan
# is still kept from repeating them by the database).
_finished: dict[str, date] = {}
# For each person: the ids of the things waiting (children or visits).
Waiting = dict[uuid.UUID, set[uuid.UUID]]


def scan(now: datetime | None = None) -> dict[str, int]:
    """Make today's scheduled alerts if the digest hour has come; commit. Returns how many
    alerts of each kind were made now (none for kinds already made today).
    """
    now = now or utcnow()
    config = current_app.config
    local = now.astimezone(ZoneInfo(config["LOCAL_TIMEZONE"]))
    if local.hour < config["ALERTS_DIGEST_HOUR"]:
        return {}
    day = local.date()
    made = scan_day(day)
    _finished["day"] = day
    return made


def scan_if_not_done_today() -> dict[str, int]:
    """The worker's job: :func:`scan`, unless this process finished today's already."""
    zone = ZoneInfo(current_app.config["LOCAL_TIMEZONE"])
    if _finished.get("day") == utcnow().astimezone(zone).date():
        return {}
    return scan()


def scan_day(day: date) -> dict[str, int]:
    """Make ``day``'s scheduled alerts (idempotent) and commit."""
    made = {
        kinds.VISITS_DUE: _tell(kinds.VISITS_DUE, day, _visits_due(day), _due_path),
        kinds.REVIEW_WAITING: _tell(kinds.REVIEW_WAITING, day, _reviews_waiting(day), _review_path),
        kinds.DECISION_OVERDUE: _tell(
            kinds.DECISION_OVERDUE, day, _decisions_overdue(day), _decision_path
        ),
    }
    db.session.commit()
    return made


def _tell(
    kind: str, day: date, waiting: Waiting, path_of: Callable[[User, set[uuid.UUID]], str]
) -> int:
    """One alert per person with something waiting: how many, and where to see them."""
    waiting = {person: things for person, things in waiting.items() if things}
    if not waiting:
        return 0
    people = db.session.scalars(select(User).where(User.id.in_(list(waiting))))
    made = 0
    for person in people:
        things = waiting[person.id]
        made += len(
            operations.raise_alert(
                kind, [person], day.isoformat(), path_of(person, things), len(things)
            )
        )
    return made


def _tell_supervisors(waiting: Waiting, by_team: dict[Any, set[uuid.UUID]]) -> None:
    """Add each team's waiting things to each of its active supervisors (one query)."""
    teams = [team_id for team_id in by_team if team_id is not None]
    if not teams:
        return
    rows = db.session.execute(
        select(team_memberships.c.team_id, User.id)
        .join(User, User.id == team_memberships.c.user_id)
        .where(
            team_memberships.c.team_id.in_(teams),
            User.role == "supervisor",
            User.active.is_(True),
        )
    )
    for team_id, supervisor_id in rows:
        waiting[supervisor_id] |= by_team[team_id]


def _visits_due(day: date) -> Waiting:
    """Children due within 2 working days or overdue: by allocated worker and supervisor."""
    horizon = add_working_days(day, DUE_WITHIN_WORKING_DAYS)
    rows = db.session.execute(
        select(
            case_children.c.child_id,
            case_children.c.allocated_worker_id,
            case_children.c.team_id,
        )
        .where(case_children.c.case_open.is_(True), case_children.c.next_visit_due <= horizon)
        .distinct()
    ).all()
    waiting: Waiting = defaultdict(set)
    by_team: dict[Any, set[uuid.UUID]] = defaultdict(set)
    for child_id, worker_id, team_id in rows:
        if worker_id is not None:
            waiting[worker_id].add(child_id)
        by_team[team_id].add(child_id)
    _tell_supervisors(waiting, by_team)
    return waiting


def _due_path(person: User, children: set[uuid.UUID]) -> str:
    if person.role in ("supervisor", "manager"):
        return path_for("oversight_pages.overdue")
    # A social worker's caseload, worst first, is the tablet app's first screen.
    return path_for("tablet.index")


def _reviews_waiting(day: date) -> Waiting:
    """Visits awaiting review longer than the setting, by the team's supervisors."""
    working_days = current_app.config["REVIEW_WAIT_ALERT_WORKING_DAYS"]
    zone = current_app.config["LOCAL_TIMEZONE"]
    rows = db.session.execute(
        select(Visit.id, Case.team_id, Visit.last_submitted_at)
        .join(Case, Case.id == Visit.case_id)
        .where(Visit.status == VisitStatus.SUBMITTED, Visit.last_submitted_at.is_not(None))
    ).all()
    by_team: dict[Any, set[uuid.UUID]] = defaultdict(set)
    for visit_id, team_id, submitted_at in rows:
        if (
            submitted_at is not None
            and add_working_days(local_date(submitted_at, zone), working_days) < day
        ):
            by_team[team_id].add(visit_id)
    waiting: Waiting = defaultdict(set)
    _tell_supervisors(waiting, by_team)
    return waiting


def _review_path(person: User, visits: set[uuid.UUID]) -> str:
    if len(visits) == 1:
        return path_for("visits_pages.visit", visit_id=next(iter(visits)))
    return path_for("reviews_pages.queue")


def _decisions_overdue(day: date) -> Waiting:
    """Children a management decision was about, its date passed, not seen at a later visit:
    by the team's supervisors and every manager.
    """
    unseen, later = aliased(RecordedChild), aliased(RecordedChild)
    seen_since = (
        select(later.visit_id)
        .where(
            later.child_id == unseen.child_id,
            later.seen.is_(True),
            later.started_at > unseen.started_at,
        )
        .exists()
    )
    rows = db.session.execute(
        select(unseen.child_id, Case.team_id)
        .select_from(Review)
        .join(Visit, Visit.id == Review.visit_id)
        .join(Case, Case.id == Visit.case_id)
        .join(unseen, and_(unseen.visit_id == Review.visit_id, unseen.seen.is_(False)))
        .where(Review.management_due_by.is_not(None), Review.management_due_by < day)
        .where(~seen_since)
        .distinct()
    ).all()
    by_team: dict[Any, set[uuid.UUID]] = defaultdict(set)
    for child_id, team_id in rows:
        by_team[team_id].add(child_id)
    waiting: Waiting = defaultdict(set)
    _tell_supervisors(waiting, by_team)
    everyone = set().union(*by_team.values()) if by_team else set()
    if everyone:
        for manager in operations.people_with_role("manager"):
            waiting[manager.id] |= everyone
    return waiting


def _decision_path(person: User, children: set[uuid.UUID]) -> str:
    if len(children) == 1:
        return path_for("oversight_pages.child", child_id=next(iter(children)))
    return path_for("oversight_pages.overdue")
