"""Oversight endpoints: overdue children, counts by team, a child's chronology."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, g, jsonify

from api_schemas.oversight import (
    ChronologyEntrySchema,
    ChronologyQuerySchema,
    OverdueChildSchema,
    OverdueQuerySchema,
    SummaryQuerySchema,
    SummarySchema,
)
from service.api import Blueprint
from service.audit.events import Action, Subject
from service.audit.reads import audited
from service.cases.operations import get_child
from service.oversight import chronology, operations

blp = Blueprint("oversight", __name__, description="Overdue children, summaries, chronologies.")

OVERSEERS = ("supervisor", "manager")


def _overdue_subjects(rows: list[dict[str, Any]], **view_args: Any) -> list[Subject]:
    return [Subject("overdue", row["child_id"], row["child_id"]) for row in rows]


def _chronology_subjects(result: Any, child_id: uuid.UUID, **view_args: Any) -> list[Subject]:
    return [Subject("chronology", child_id, child_id)]


@blp.get("/oversight/overdue")
@blp.login_required(*OVERSEERS)
@blp.arguments(OverdueQuerySchema, location="query")
@blp.response(200, OverdueChildSchema(many=True))
@blp.paginate()
@audited(Action.LIST, subjects=_overdue_subjects)
def overdue(filters: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
    """Children in your scope overdue a statutory visit, worst first.

    ``within_days`` adds children due within that many days.

    A child never seen since their plan started counts from the start date (``never_seen``).
    Filter by ``team_id``, ``worker_id`` and ``plan_type``. One row per child and open case.
    """
    return operations.overdue_page(g.user, filters, pagination_parameters)


@blp.get("/oversight/summary")
@blp.login_required(*OVERSEERS)
@blp.arguments(SummaryQuerySchema, location="query")
@blp.response(200, SummarySchema)
@audited(Action.READ, subjects=lambda result, **view_args: [Subject("summary", None)])
def summary(query: dict[str, Any]) -> dict[str, Any]:
    """Per team and in total: children, % seen within timescale, % of statutory visits where the
    child was seen alone, visits awaiting review and the oldest wait, late recordings, and
    children with none of their views recorded in their last three visits.
    """
    return operations.summary(g.user, query["days"])


@blp.get("/children/<uuid:child_id>/chronology")
@blp.login_required("social_worker", *OVERSEERS)
@blp.arguments(ChronologyQuerySchema, location="query")
@blp.alt_response(200, schema={"type": "string"}, content_type="text/csv", success=True)
@blp.response(200, ChronologyEntrySchema(many=True))
@blp.alt_response(404, description="No such child, or not in your scope")
@audited(Action.READ, subjects=_chronology_subjects)
def child_chronology(query: dict[str, Any], child_id: uuid.UUID) -> Any:
    """The child's chronology: plan changes, every submitted visit (seen or not, seen alone or
    not, their own words) and every review and management decision, in time order.

    ``?format=csv`` returns it as a CSV file for the case file.
    """
    child = get_child(g.user, child_id)
    entries = chronology.chronology(child)
    if query["format"] == "csv":
        return Response(
            chronology.as_csv(entries),
            mimetype="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="chronology-{child.id}.csv"',
                "X-Content-Type-Options": "nosniff",
            },
        )
    return jsonify(chronology.as_json(entries))
