"""Review shapes: the queue, a decision, and the decisions made."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api_schemas.auth import PersonSchema
from api_schemas.common import StrictSchema, UTCDateTime, choice, text
from service.reviews.models import DECISIONS

FLAGS = ("not_seen", "not_seen_alone", "no_views", "late", "amendment", "escalated")


class ManagementDecisionSchema(StrictSchema):
    """What happens next for a child who was not seen, and by when."""

    action = fields.String(required=True, validate=validate.Length(min=3, max=2000))
    due_by = fields.Date(required=True)


class ReviewInSchema(StrictSchema):
    """A decision on a submitted visit."""

    decision = choice(DECISIONS, required=True)
    comment = text(5000, load_default=None, allow_none=True)
    management_decision = fields.Nested(
        ManagementDecisionSchema, load_default=None, allow_none=True
    )


class ReviewSchema(Schema):
    """A decision as recorded (immutable)."""

    id = fields.UUID()
    visit_id = fields.UUID()
    version_number = fields.Integer(metadata={"description": "The submitted version reviewed"})
    reviewer = fields.Nested(PersonSchema)
    decision = fields.String()
    comment = fields.String(allow_none=True)
    management_action = fields.String(allow_none=True)
    management_due_by = fields.Date(allow_none=True)
    decided_at = UTCDateTime()


class QueueChildSchema(Schema):
    """A child on a queued visit, at a glance."""

    child_id = fields.UUID()
    child_name = fields.String()
    seen = fields.Boolean(allow_none=True)
    seen_alone = fields.Boolean(allow_none=True)


class QueueItemSchema(Schema):
    """A submitted visit waiting for review."""

    id = fields.UUID()
    case_id = fields.UUID()
    core_ref = fields.Function(lambda visit: visit.case.core_ref)
    worker = fields.Nested(PersonSchema)
    visit_type = fields.String()
    started_at = UTCDateTime()
    last_submitted_at = UTCDateTime()
    version = fields.Integer()
    waiting_days = fields.Integer(metadata={"description": "Whole days since it was submitted"})
    flags = fields.List(fields.String(metadata={"enum": list(FLAGS)}))
    children = fields.List(fields.Nested(QueueChildSchema))


class QueueQuerySchema(StrictSchema):
    """Filters for the review queue."""

    worker_id = fields.UUID(load_default=None)
    flag = choice(FLAGS, load_default=None)
    older_than_days = fields.Integer(load_default=None, validate=validate.Range(min=0, max=3650))
