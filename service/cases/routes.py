"""Caseload endpoints: cases in scope, one case, one child."""

from __future__ import annotations

import uuid
from typing import Any

from flask import g

from api_schemas.cases import CaseLookupSchema, CaseQuerySchema, CaseSchema, ChildDetailSchema
from service.api import Blueprint, paginate_select, retry_after_headers
from service.audit.events import Action, Subject, about_children
from service.audit.reads import audited, describe
from service.cases import lookup, operations
from service.cases.models import Case, Child

blp = Blueprint("cases", __name__, description="Caseloads: cases, children, who is due a visit.")

READERS = ("social_worker", "supervisor", "manager")


@describe.register
def _case_subjects(case: Case) -> list[Subject]:
    return about_children("case", case.id, [child.id for child in case.children])


@describe.register
def _child_subjects(child: Child) -> list[Subject]:
    return [Subject("child", child.id, child.id)]


@blp.get("/cases")
@blp.login_required(*READERS)
@blp.arguments(CaseQuerySchema, location="query")
@blp.response(200, CaseSchema(many=True))
@blp.paginate()
@audited(Action.LIST)
def list_cases(filters: dict[str, Any], pagination_parameters: Any) -> list[Case]:
    """The caller's caseload: each case with its children, last seen, next due and overdue.

    A social worker sees the cases allocated to them; a supervisor their teams' cases; a manager
    every case. Paginated (``page``, ``page_size``); totals are in the ``X-Pagination`` header.
    """
    return paginate_select(operations.caseload_query(g.user, filters), pagination_parameters)


@blp.get("/cases/lookup")
@blp.login_required(*READERS)
@blp.arguments(CaseLookupSchema, location="query")
@blp.response(200, CaseSchema)
@blp.alt_response(404, description="No such case here or in the core system, or not yours")
@blp.alt_response(
    503,
    description="The core case system cannot be reached; try again",
    headers=retry_after_headers(),
)
@audited(Action.READ)
def lookup_case(query: dict[str, str]) -> Case:
    """The case with this core-system reference, with its children and their ids.

    A case not yet held here is looked up in the core case system (when one is configured),
    kept, and answered like any other, so a visit can be recorded against it at once.
    """
    return lookup.case_by_core_ref(g.user, query["core_ref"])


@blp.get("/cases/<uuid:case_id>")
@blp.login_required(*READERS)
@blp.response(200, CaseSchema)
@blp.alt_response(404, description="No such case, or not in your caseload")
@audited(Action.READ)
def get_case(case_id: uuid.UUID) -> Case:
    """One case with its children."""
    return operations.get_case(g.user, case_id)


@blp.get("/children/<uuid:child_id>")
@blp.login_required(*READERS)
@blp.response(200, ChildDetailSchema)
@blp.alt_response(404, description="No such child, or not in your caseload")
@audited(Action.READ)
def get_child(child_id: uuid.UUID) -> Child:
    """One child: plan, last seen, last seen alone, next statutory visit due, overdue."""
    return operations.get_child(g.user, child_id)
