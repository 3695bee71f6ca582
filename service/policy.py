"""Who may see and do what: one function per question, used by every feature.

Roles say what kind of thing a user may do. Scope says which records: a social worker sees the
cases allocated to them, a supervisor their teams' cases, a manager the whole service, and an
admin no child records at all. A record out of scope is answered exactly as a missing one (404).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, false, select, true

from service.auth.models import User
from service.cases.models import Case, Child, case_children
from service.visits.models import Visit


def case_scope(user: User) -> ColumnElement[bool]:
    """A SQL condition on :class:`Case` selecting the cases ``user`` may see."""
    if user.role == "manager":
        return true()
    if user.role == "supervisor":
        team_ids = user.team_ids
        return Case.team_id.in_(team_ids) if team_ids else false()
    if user.role == "social_worker":
        return Case.allocated_worker_id == user.id
    return false()


def child_scope(user: User) -> ColumnElement[bool]:
    """A SQL condition on :class:`Child`: the child is on at least one case in scope."""
    return exists(
        select(case_children.c.case_id)
        .join(Case, Case.id == case_children.c.case_id)
        .where(case_children.c.child_id == Child.id, case_scope(user))
    )


def can_read_case(user: User, case: Case) -> bool:
    """Whether ``user`` may see ``case`` and the children on it."""
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


def can_read_visit(user: User, visit: Visit) -> bool:
    """Whether ``user`` may see ``visit``: its case is in scope."""
    return can_read_case(user, visit.case)


def can_record_visit(user: User, case: Case) -> bool:
    """Whether ``user`` may record a visit on ``case``: the social worker allocated to it."""
    return user.role == "social_worker" and case.allocated_worker_id == user.id


def can_edit_visit(user: User, visit: Visit) -> bool:
    """Whether ``user`` may change, submit, amend or delete ``visit``: its allocated author."""
    return visit.worker_id == user.id and can_record_visit(user, visit.case)
