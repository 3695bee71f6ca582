"""Finding a case by the core system's reference, asking the core system when it is new here.

With an HTTP core system configured, a case the local registry does not hold yet is fetched
(``GET /cases/{core_ref}``), checked exactly as an imported row would be, and kept locally: the
local copy is the cache, refreshed by the next import. With the local registry, what was
imported is all there is.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service.audit.events import Action, about_children
from service.audit.trail import record
from service.auth.models import User
from service.cases.importer import ImportFailed, apply_rows, validate_rows
from service.cases.models import Case, Child
from service.core_system.adapters import DeliveryFailed, core_system
from service.errors import NotFound, ServiceUnavailable
from service.extensions import db
from service.policy import can_read_case

log = logging.getLogger(__name__)


def rows_from_core_system(case: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The core system's case as import rows: one per child (contract v1's case shape)."""
    common = {
        "case_ref": case.get("core_ref"),
        "case_status": case.get("status", "open"),
        "team": case.get("team"),
        "allocated_worker": case.get("allocated_worker"),
        "opened_on": case.get("opened_on"),
        "closed_on": case.get("closed_on"),
    }
    listed = case.get("children")
    children: list[Any] = listed if isinstance(listed, list) else []
    return [
        (
            f"core system child {index}",
            {
                **common,
                "person_ref": child.get("core_person_ref"),
                "child_name": child.get("name"),
                "date_of_birth": child.get("date_of_birth"),
                "plan_type": child.get("plan_type"),
                "plan_start_date": child.get("plan_start_date"),
            }
            if isinstance(child, dict)
            else {"_": child},
        )
        for index, child in enumerate(children, start=1)
    ]


def _fetch(core_ref: str) -> Case | None:
    adapter = core_system()
    try:
        found = adapter.find_case(core_ref)
    except DeliveryFailed as failure:
        raise ServiceUnavailable(
            "core_system.unavailable",
            "The core case system cannot be reached to look the case up; try again shortly.",
        ) from failure
    if not found or found.get("core_ref") != core_ref:
        return None
    try:
        rows = validate_rows(rows_from_core_system(found))
    except ImportFailed as failed:
        log.warning("case %s from the core system is unusable: %s", core_ref, failed.problems[:3])
        return None
    _keep_children_held_here(rows)
    try:
        with db.session.begin_nested():
            apply_rows(rows)
    except IntegrityError:  # fetched at the same moment by another request
        pass
    return db.session.scalar(select(Case).where(Case.core_ref == core_ref))


def _keep_children_held_here(rows: list[dict[str, Any]]) -> None:
    """A lookup adds a case; it never rewrites a child already held here (on another case):
    their name, birth date and plan stay as the last import set them.
    """
    held = {
        child.core_person_ref: child
        for child in db.session.scalars(
            select(Child).where(Child.core_person_ref.in_([row["person_ref"] for row in rows]))
        )
    }
    for row in rows:
        child = held.get(row["person_ref"])
        if child is not None:
            row.update(
                child_name=child.name,
                date_of_birth=child.date_of_birth,
                plan_type=child.plan_type,
                plan_start_date=child.plan_start_date,
            )


def case_by_core_ref(user: User, core_ref: str) -> Case:
    """The case with this core reference, if ``user`` may see it (404 otherwise, as ever)."""
    case = db.session.scalar(select(Case).where(Case.core_ref == core_ref))
    fetched = case is None
    if fetched:
        case = _fetch(core_ref)
    if case is None or not can_read_case(user, case):
        raise NotFound("case.not_found", "No such case.")
    if fetched:
        children = [child.id for child in case.children]
        record(Action.LOOKUP, about_children("case", case.id, children), actor=user)
    return case
