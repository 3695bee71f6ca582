"""Legal hold on a case, and the list of cases due for disposal (managers and admins/DPO)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import g

from api_schemas.retention import (
    CaseRetentionSchema,
    DueCaseSchema,
    DueQuerySchema,
    LegalHoldReasonSchema,
)
from service.api import Blueprint, paginate_select
from service.audit.events import Action, Subject, about_children
from service.audit.reads import audit_exempt, audited
from service.cases.models import Case
from service.retention import operations

blp = Blueprint("retention", __name__, description="Retention: legal hold, cases due for disposal.")

# An admin acts as data-protection officer here: a hold and the due list name cases and
# children by id only, never what the records say.
HOLDERS = ("manager", "admin")


def _retention(case: Case) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "core_ref": case.core_ref,
        "retention_class": case.retention_class,
        "disposal_date": case.disposal_date,
        "legal_hold": case.legal_hold,
        "holds": operations.hold_history(case),
        "_subjects": about_children("case", case.id, [child.id for child in case.children]),
    }


def _shown(result: Any, **kwargs: Any) -> list[Subject]:
    items = result if isinstance(result, list) else [result]
    return [subject for item in items for subject in item["_subjects"]]


@blp.get("/cases/<uuid:case_id>/legal-hold")
@blp.login_required(*HOLDERS)
@blp.response(200, CaseRetentionSchema)
@blp.alt_response(404, description="No such case")
@audited(Action.READ, _shown)
def get_hold(case_id: uuid.UUID) -> dict[str, Any]:
    """The case's retention class, disposal date, legal hold and the history of its holds."""
    return _retention(operations.case_for_hold(g.user, case_id))


@blp.post("/cases/<uuid:case_id>/legal-hold")
@blp.login_required(*HOLDERS)
@blp.arguments(LegalHoldReasonSchema)
@blp.response(200, CaseRetentionSchema)
@blp.alt_response(404, description="No such case")
@blp.alt_response(409, description="Already on legal hold")
@audit_exempt("a write: retention.operations.set_hold records it")
def set_hold(body: dict[str, str], case_id: uuid.UUID) -> dict[str, Any]:
    """Put the case on legal hold, with a reason: no purge touches it until it is cleared."""
    return _retention(operations.set_hold(g.user, case_id, body["reason"]))


@blp.delete("/cases/<uuid:case_id>/legal-hold")
@blp.login_required(*HOLDERS)
@blp.arguments(LegalHoldReasonSchema)
@blp.response(200, CaseRetentionSchema)
@blp.alt_response(404, description="No such case")
@blp.alt_response(409, description="Not on legal hold")
@audit_exempt("a write: retention.operations.clear_hold records it")
def clear_hold(body: dict[str, str], case_id: uuid.UUID) -> dict[str, Any]:
    """Lift the case's legal hold, with a reason; the hold stays in its history."""
    return _retention(operations.clear_hold(g.user, case_id, body["reason"]))


@blp.get("/retention/due")
@blp.login_required(*HOLDERS)
@blp.arguments(DueQuerySchema, location="query")
@blp.response(200, DueCaseSchema(many=True))
@blp.paginate()
@audited(Action.LIST, _shown)
def list_due(filters: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
    """Closed cases whose disposal date has come (or comes by ``as_of``), oldest first, with
    how many visits and evidence objects a purge would remove. Cases on hold are listed,
    marked; open cases are never due. Paginated (``page``, ``page_size``).
    """
    query = operations.due_query(filters["as_of"], include_held=filters["include_held"])
    cases = paginate_select(query, pagination_parameters)
    counts = operations.record_counts([case.id for case in cases])
    return [
        {
            "case_id": case.id,
            "core_ref": case.core_ref,
            "retention_class": case.retention_class,
            "disposal_date": case.disposal_date,
            "legal_hold": case.legal_hold,
            "child_ids": [child.id for child in case.children],
            "visits": counts[case.id][0],
            "evidence_objects": counts[case.id][1],
            "_subjects": about_children("case", case.id, [child.id for child in case.children]),
        }
        for case in cases
    ]
