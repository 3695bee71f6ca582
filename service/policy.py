"""Who may see and do what: one function per question, used by every feature.

Roles say what kind of thing a user may do. Scope says which records: a social worker sees the
cases allocated to them, a supervisor their teams' cases, a manager the whole service, and an
admin no child records at all. A record out of scope is answered exactly as a missing one (404).

Reallocation: a case moved to another worker leaves the former worker's caseload at once, but
a visit they made while it was allocated to them stays theirs: they can still read, finish and
submit it (offline tablets sync late), and it goes to review as usual. A new visit dated after
the reallocation is refused.

A case being purged (``purging_since`` set, service/retention/purge.py) is absent for everyone,
whatever their role: it answers 404 and no list shows it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import request
from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true

from service.audit.events import Action, Subject, about_children
from service.audit.trail import record
from service.auth.models import User
from service.cases.models import Case, CaseAllocation, Child, case_children
from service.evidence.models import Attachment
from service.extensions import db
from service.visits.models import Visit


def case_scope(user: User) -> ColumnElement[bool]:
    """A SQL condition on :class:`Case` selecting the cases ``user`` may see."""
    return and_(Case.purging_since.is_(None), _allocation_scope(user))


def _allocation_scope(user: User) -> ColumnElement[bool]:
    if user.role == "manager":
        return true()
    if user.role == "supervisor":
        team_ids = user.team_ids
        return Case.team_id.in_(team_ids) if team_ids else false()
    if user.role == "social_worker":
        return Case.allocated_worker_id == user.id
    return false()


def caseload_entry_scope(user: User) -> ColumnElement[bool]:
    """The same scope as :func:`case_scope`, on the copies kept in ``case_children``."""
    if user.role == "manager":
        return true()
    if user.role == "supervisor":
        team_ids = user.team_ids
        return case_children.c.team_id.in_(team_ids) if team_ids else false()
    if user.role == "social_worker":
        return case_children.c.allocated_worker_id == user.id
    return false()


def visit_team_scope(user: User, team_id: Any = None) -> ColumnElement[bool]:
    """Visits counted for the caller's teams (by the team holding the case at the visit).

    ``team_id`` is the column holding that team: the visit's own, or the copy on its record
    (``visit_record_children.team_id``).
    """
    if user.role == "manager":
        return true()
    if user.role == "supervisor" and user.team_ids:
        return (Visit.team_id if team_id is None else team_id).in_(user.team_ids)
    return false()


def child_scope(user: User) -> ColumnElement[bool]:
    """A SQL condition on :class:`Child`: the child is on at least one case in scope."""
    return exists(
        select(case_children.c.case_id)
        .join(Case, Case.id == case_children.c.case_id)
        .where(case_children.c.child_id == Child.id, case_scope(user))
    )


def refused(user: User, subjects: list[Subject], wanted: str = "read") -> None:
    """Record that ``user`` was refused records that exist (they are answered 404, as if not).

    Written even though the request rolls back, for the unusual-access report.
    """
    record(Action.DENIED, subjects, actor=user, keep_on_rollback=True, wanted=wanted)


def role_refused(user: Any, operation: str, path_args: dict[str, Any]) -> None:
    """Record a request refused for the caller's role (403): the record it named, by child.

    A request for a child, case, visit or attachment names the children it was about, so the
    attempt is in each child's access log; any other names the operation. ``wanted`` says
    whether it would have read or changed something.
    """
    subjects = _subjects_named(path_args) or [Subject("operation", operation[:64])]
    wanted = "read" if request.method in ("GET", "HEAD") else "change"
    record(
        Action.DENIED, subjects, actor=user, keep_on_rollback=True,
        operation=operation[:64], wanted=wanted, refused_for="role",
    )  # fmt: skip


def _subjects_named(path_args: dict[str, Any]) -> list[Subject]:
    if isinstance(path_args.get("child_id"), uuid.UUID):
        child_id = path_args["child_id"]
        known = db.session.get(Child, child_id) is not None
        return [Subject("child", child_id, child_id if known else None)]
    if isinstance(path_args.get("visit_id"), uuid.UUID):
        visit = db.session.get(Visit, path_args["visit_id"])
        return visit_subjects(visit) if visit else [Subject("visit", path_args["visit_id"])]
    if isinstance(path_args.get("case_id"), uuid.UUID):
        case = db.session.get(Case, path_args["case_id"])
        if case is None:
            return [Subject("case", path_args["case_id"])]
        return about_children("case", case.id, [child.id for child in case.children])
    if isinstance(path_args.get("attachment_id"), uuid.UUID):
        attachment = db.session.get(Attachment, path_args["attachment_id"])
        if attachment is None:
            return [Subject("attachment", path_args["attachment_id"])]
        if attachment.child_id:
            return [Subject("attachment", attachment.id, attachment.child_id)]
        visit = db.session.get(Visit, attachment.visit_id)
        children = [row.child_id for row in visit.children] if visit else []
        return about_children("attachment", attachment.id, children)
    return []


def visit_subjects(visit: Visit) -> list[Subject]:
    """The subjects of a visit: one per child on it."""
    return about_children("visit", visit.id, [row.child_id for row in visit.children])


def can_read_case(user: User, case: Case) -> bool:
    """Whether ``user`` may see ``case`` and the children on it."""
    if case.purging_since is not None:
        return False
    if user.role == "manager":
        return True
    if user.role == "supervisor":
        return case.team_id in user.team_ids
    if user.role == "social_worker":
        return case.allocated_worker_id == user.id
    return False


def can_read_child(user: User, child: Child) -> bool:
    """Whether ``user`` may see ``child``: they are on a case in scope."""
    return any(can_read_case(user, case) for case in child.cases)


def was_allocated(user: User, case: Case, moment: datetime) -> bool:
    """Whether ``case`` was allocated to ``user`` at ``moment``."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    CaseAllocation.case_id == case.id,
                    CaseAllocation.worker_id == user.id,
                    CaseAllocation.allocated_from <= moment,
                    or_(
                        CaseAllocation.allocated_until.is_(None),
                        CaseAllocation.allocated_until > moment,
                    ),
                )
            )
        )
    )


def can_read_visit(user: User, visit: Visit) -> bool:
    """Whether ``user`` may see ``visit``: its case is in scope, or they made it while allocated."""
    if can_read_case(user, visit.case):
        return True
    if visit.case.purging_since is not None:
        return False
    return visit.worker_id == user.id and was_allocated(user, visit.case, visit.started_at)


def can_record_visit(user: User, case: Case, started_at: datetime | None = None) -> bool:
    """Whether ``user`` may record a visit on ``case``: its social worker, now or at the visit."""
    if user.role != "social_worker" or case.purging_since is not None:
        return False
    if case.allocated_worker_id == user.id:
        return True
    return started_at is not None and was_allocated(user, case, started_at)


def can_edit_visit(user: User, visit: Visit) -> bool:
    """Whether ``user`` may change, submit, amend or delete ``visit``: its allocated author."""
    return visit.worker_id == user.id and can_record_visit(user, visit.case, visit.started_at)


def can_hold_case(user: User, case: Case) -> bool:
    """Whether ``user`` may set or clear a legal hold on ``case``, or list cases due.

    Managers (whose scope is the service) and admins acting as data-protection officer: a hold
    names a case by id and says nothing of the children, so an admin sees no child record.
    """
    return case.purging_since is None and user.role in ("manager", "admin")
