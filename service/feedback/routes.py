"""Feedback API for managers (triage and summary) and for invites."""

from __future__ import annotations

import uuid
from typing import Any

from flask import g

from api_schemas.feedback import (
    FeedbackQuerySchema,
    FeedbackSchema,
    InviteInSchema,
    InviteSchema,
    MonthSummarySchema,
    SummaryQuerySchema,
    TriageSchema,
)
from service.api import Blueprint, paginate_select
from service.audit.events import Action, Subject
from service.audit.reads import audit_exempt, audited, describe
from service.audit.trail import record
from service.feedback import operations
from service.feedback.models import Feedback
from service.links import public_url

blp = Blueprint("feedback", __name__, description="Care-leaver feedback: invites, triage, summary.")


@describe.register
def _feedback_subjects(feedback: Feedback) -> list[Subject]:
    """A response is about the care leaver it came from (through an invite), or about nobody
    known; either way showing it is a read the trail records.
    """
    return [Subject("feedback", feedback.id, feedback.child_id)]


@blp.post("/feedback/invites")
@blp.login_required("manager", "social_worker")
@blp.arguments(InviteInSchema)
@blp.response(201, InviteSchema)
@blp.alt_response(404, description="No such child in your scope")
@audit_exempt("a write: recorded in the view, as it returns a link, not a record")
def create_invite(body: dict[str, Any]) -> dict[str, Any]:
    """A personal, signed, expiring link for a care leaver, so their answers join their record
    without them typing who they are. It works once per ``period_days``.
    """
    invite, token = operations.create_invite(
        g.user, body["child_id"], body["valid_days"], body["period_days"]
    )
    record(Action.CREATE, Subject("feedback_invite", invite.id, invite.child_id))
    return {
        "id": invite.id,
        "child_id": invite.child_id,
        "url": public_url("feedback_pages.form", invite=token),
        "expires_at": invite.expires_at,
        "period_days": invite.period_days,
    }


@blp.get("/feedback")
@blp.login_required("manager")
@blp.arguments(FeedbackQuerySchema, location="query")
@blp.response(200, FeedbackSchema(many=True))
@blp.paginate()
@audited(Action.LIST)
def list_feedback(filters: dict[str, Any], pagination_parameters: Any) -> list[Feedback]:
    """Responses for triage, urgent first, then newest (filters: status, urgent, since)."""
    return paginate_select(operations.feedback_query(filters), pagination_parameters)


@blp.patch("/feedback/<uuid:feedback_id>")
@blp.login_required("manager")
@blp.arguments(TriageSchema)
@blp.response(200, FeedbackSchema)
@audited(Action.TRIAGE, changed_fields=("status", "note"))
def triage_feedback(body: dict[str, Any], feedback_id: uuid.UUID) -> Feedback:
    """Move a response through triage (new, contacted, closed), with a note."""
    return operations.triage(g.user, feedback_id, body["status"], body["note"])


@blp.get("/feedback/summary")
@blp.login_required("manager")
@blp.arguments(SummaryQuerySchema, location="query")
@blp.response(200, MonthSummarySchema(many=True))
@audited(Action.READ, subjects=lambda result, **view_args: [Subject("feedback_summary", None)])
def feedback_summary(query: dict[str, Any]) -> list[dict[str, Any]]:
    """Averages and answer distributions by month, newest first. A month with fewer than five
    responses is suppressed, and so is any answer count from 1 to 4, so no one can be identified.
    """
    return operations.summary(query["months"])
