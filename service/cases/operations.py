"""Caseload queries and the derived "last seen / next due" fields on children."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from sqlalchemy import Select, and_, select
from sqlalchemy.orm import selectinload

from service.audit.events import Subject, about_children
from service.auth.models import User
from service.cases.models import Case, Child, case_children
from service.columns import utcnow
from service.errors import NotFound
from service.extensions import db
from service.policy import can_read_case, can_read_child, case_scope, refused
from service.timescales import TimescaleRule, local_date, rules_from_config


def timescale_rules() -> dict[str, TimescaleRule]:
    """The statutory rules in force: defaults with this council's overrides (built once)."""
    rules = current_app.extensions.get("timescale_rules")
    if rules is None:
        rules = rules_from_config(current_app.config["TIMESCALES"])
        current_app.extensions["timescale_rules"] = rules
    return rules


def today() -> Any:
    """Today's date where the council works."""
    return local_date(utcnow(), current_app.config["LOCAL_TIMEZONE"])


def is_overdue(child: Child) -> bool:
    """Whether the child's next statutory visit was due before today."""
    return bool(child.next_visit_due < today())


def caseload_query(user: User, filters: dict[str, Any]) -> Select[Any]:
    """The cases ``user`` may see, filtered, in a stable order, children loaded in one query."""
    query = (
        select(Case)
        .where(case_scope(user))
        .options(selectinload(Case.children))
        .order_by(Case.core_ref)
    )
    if filters.get("status"):
        query = query.where(Case.status == filters["status"])
    if filters.get("worker_id"):
        query = query.where(Case.allocated_worker_id == filters["worker_id"])
    child_conditions = []
    if filters.get("plan_type"):
        child_conditions.append(Child.plan_type == filters["plan_type"])
    if filters.get("overdue") is not None:
        due = Child.next_visit_due < today()
        child_conditions.append(due if filters["overdue"] else ~due)
    if child_conditions:
        query = query.where(
            select(case_children.c.case_id)
            .join(Child, Child.id == case_children.c.child_id)
            .where(case_children.c.case_id == Case.id, and_(*child_conditions))
            .exists()
        )
    return query


def get_case(user: User, case_id: uuid.UUID) -> Case:
    """The case, if ``user`` may see it; otherwise 404 exactly as if it did not exist."""
    case = db.session.get(Case, case_id)
    if case is not None and not can_read_case(user, case):
        refused(user, about_children("case", case.id, [child.id for child in case.children]))
    if case is None or not can_read_case(user, case):
        raise NotFound("case.not_found", "No such case.")
    return case


def get_child(user: User, child_id: uuid.UUID) -> Child:
    """The child, if ``user`` may see them; otherwise 404."""
    child = db.session.get(Child, child_id)
    if child is not None and not can_read_child(user, child):
        refused(user, [Subject("child", child.id, child.id)])
    if child is None or not can_read_child(user, child):
        raise NotFound("child.not_found", "No such child.")
    return child


def refresh_next_due(child: Child) -> None:
    """Set ``next_visit_due`` from the plan type, plan start and the last statutory visit."""
    zone = current_app.config["LOCAL_TIMEZONE"]
    last = child.last_statutory_seen_at
    child.next_visit_due = timescale_rules()[child.plan_type].next_due(
        child.plan_start_date, local_date(last, zone) if last else None
    )
