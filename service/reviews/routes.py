"""Review endpoints: the queue, a decision, and a visit's decisions."""

from __future__ import annotations

import uuid
from typing import Any

from flask import g, request

from api_schemas.reviews import QueueItemSchema, QueueQuerySchema, ReviewInSchema, ReviewSchema
from service.api import Blueprint, paginate_select
from service.audit.events import Action, Subject, about_children
from service.audit.reads import audit_exempt, audited, describe
from service.extensions import db
from service.reviews import operations
from service.reviews.models import Review
from service.visits.lifecycle import etag
from service.visits.models import Visit

blp = Blueprint("reviews", __name__, description="Supervisor review and management decisions.")

REVIEWERS = ("supervisor", "manager")
IF_MATCH = {
    "in": "header",
    "name": "If-Match",
    "required": True,
    "schema": {"type": "string"},
    "description": (
        "The visit's ETag (strong; '*' and weak ETags are refused), so a decision is never "
        "made on a version you have not seen."
    ),
}


@describe.register
def _review_subjects(review: Review) -> list[Subject]:
    visit = db.session.get(Visit, review.visit_id)
    children = [child.child_id for child in visit.children] if visit else []
    return about_children("review", review.id, children)


@blp.get("/reviews/queue")
@blp.login_required(*REVIEWERS)
@blp.arguments(QueueQuerySchema, location="query")
@blp.response(200, QueueItemSchema(many=True))
@blp.paginate()
@audited(Action.LIST)
def review_queue(filters: dict[str, Any], pagination_parameters: Any) -> list[Visit]:
    """Submitted visits of your teams (all teams for a manager), oldest submission first.

    Each carries flags: ``not_seen``, ``not_seen_alone``, ``no_views`` (a seen child with none
    of their views recorded), ``late`` (a statutory visit written up more than
    ``LATE_RECORDING_WORKING_DAYS`` working days after it happened), ``amendment`` and
    ``escalated``. Filter by ``worker_id``, ``flag`` and ``older_than_days``.
    """
    visits = paginate_select(operations.queue_query(g.user, filters), pagination_parameters)
    return operations.annotate(visits)


@blp.post("/visits/<uuid:visit_id>/review")
@blp.login_required(*REVIEWERS)
@blp.doc(parameters=[IF_MATCH])
@blp.arguments(ReviewInSchema)
@blp.response(201, ReviewSchema)
@blp.alt_response(403, description="Your own visit; or escalated and you are not another manager")
@blp.alt_response(409, description="Not awaiting review")
@blp.alt_response(412, description="The visit changed since you read it")
@blp.alt_response(422, description="Return without a comment; no management decision where needed")
@blp.alt_response(428, description="If-Match missing")
@audit_exempt("a write: the visit's lifecycle records the decision")
def review_visit(body: dict[str, Any], visit_id: uuid.UUID) -> Any:
    """Approve, return (with a comment the worker sees) or escalate to a manager.

    When a child was not seen, or a child on a protection plan was not seen alone, the decision
    must carry a ``management_decision``: what happens next and by when (within a year). The
    decision is tied to the submitted version reviewed and can never be changed. Of two decisions
    sent from one ETag one is kept, the other gets 412. Once escalated, only a manager other
    than the one who escalated decides. The response's ETag is the visit's.
    """
    review, visit = operations.review_visit(g.user, visit_id, body, request.headers.get("If-Match"))
    return review, 201, {"ETag": etag(visit)}


@blp.get("/visits/<uuid:visit_id>/reviews")
@blp.login_required("social_worker", *REVIEWERS)
@blp.response(200, ReviewSchema(many=True))
@audited(Action.LIST)
def visit_reviews(visit_id: uuid.UUID) -> list[Review]:
    """Every decision made on the visit, oldest first."""
    return operations.reviews_of(g.user, visit_id)
