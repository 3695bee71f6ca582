"""Caseload endpoints: cases in scope, one case, one child."""

from __future__ import annotations

import uuid
from typing import Any

from flask import g

from api_schemas.cases import CaseQuerySchema, CaseSchema, ChildDetailSchema
from service.api import Blueprint, paginate_select
from service.audit.operations import record
from service.cases import operations
from service.cases.models import Case, Child

blp = Blueprint("cases", __name__, description="Caseloads: cases, children, who is due a visit.")

READERS = ("social_worker", "supervisor", "manager")


@blp.get("/cases")
@blp.login_required(*READERS)
@blp.arguments(CaseQuerySchema, location="query")
@blp.response(200, CaseSchema(many=True))
@blp.paginate()
def list_cases(filters: dict[str, Any], pagination_parameters: Any) -> list[Case]:
    """The caller's caseload: each case with its children, last seen, next due and overdue.

    A social worker sees the cases allocated to them; a supervisor their teams' cases; a manager
    every case. Paginated (``page``, ``page_size``); totals are in the ``X-Pagination`` header.
    """
    cases = paginate_select(operations.caseload_query(g.user, filters), pagination_parameters)
    record(g.user, "list", "case", [case.id for case in cases])
    return cases


@blp.get("/cases/<uuid:case_id>")
@blp.login_required(*READERS)
@blp.response(200, CaseSchema)
@blp.alt_response(404, description="No such case, or not in your caseload")
def get_case(case_id: uuid.UUID) -> Case:
    """One case with its children."""
    case = operations.get_case(g.user, case_id)
    record(g.user, "read", "case", [case.id], child_ids=[str(c.id) for c in case.children])
    return case


@blp.get("/children/<uuid:child_id>")
@blp.login_required(*READERS)
@blp.response(200, ChildDetailSchema)
@blp.alt_response(404, description="No such child, or not in your caseload")
def get_child(child_id: uuid.UUID) -> Child:
    """One child: plan, last seen, last seen alone, next statutory visit due, overdue."""
    child = operations.get_child(g.user, child_id)
    record(g.user, "read", "child", [child.id])
    return child
