"""Shapes of the core-system delivery: a visit's delivery state and the admin's outbox list."""

from __future__ import annotations

from marshmallow import Schema, fields

from api_schemas.common import StrictSchema, UTCDateTime, choice

DELIVERY_STATES = ("pending", "failed", "dead_letter", "delivered")
MESSAGE_STATUSES = ("pending", "delivered", "dead")
ALERT_EVENTS = (
    "alert.urgent_feedback",
    "alert.visits_due",
    "alert.review_waiting",
    "alert.decision_overdue",
    "alert.delivery_dead",
)
EVENTS = ("visit.approved", "visit.amendment_approved", *ALERT_EVENTS)
DESTINATIONS = ("core_system", "alert")


class DeliverySchema(Schema):
    """Where the visit's approved record is on its way to the core case system."""

    state = fields.String(
        metadata={
            "enum": list(DELIVERY_STATES),
            "description": (
                "pending: waiting to be sent; failed: tried, will be tried again at "
                "next_attempt_at; dead_letter: given up, an admin must retry it; delivered"
            ),
        }
    )
    version = fields.Integer(metadata={"description": "The approved version this is about"})
    attempts = fields.Integer()
    delivered_at = UTCDateTime(allow_none=True)
    core_reference = fields.String(
        allow_none=True, metadata={"description": "The core system's case-note reference"}
    )
    last_error = fields.String(allow_none=True)
    next_attempt_at = UTCDateTime(allow_none=True)


class OutboxMessageSchema(Schema):
    """One message for the core system (its payload, which holds child content, is not shown),
    or one alert email (``destination`` ``alert``: no visit, and its address is not shown).
    """

    id = fields.Integer()
    destination = fields.String(metadata={"enum": list(DESTINATIONS)})
    visit_id = fields.UUID(allow_none=True)
    version_number = fields.Integer(allow_none=True)
    event = fields.String(metadata={"enum": list(EVENTS)})
    idempotency_key = fields.String()
    status = fields.String(metadata={"enum": list(MESSAGE_STATUSES)})
    attempts = fields.Integer()
    next_attempt_at = UTCDateTime()
    last_error = fields.String(allow_none=True)
    last_status = fields.Integer(allow_none=True)
    core_reference = fields.String(allow_none=True)
    created_at = UTCDateTime()
    delivered_at = UTCDateTime(allow_none=True)


class OutboxQuerySchema(StrictSchema):
    """Filters for the outbox list."""

    status = choice(MESSAGE_STATUSES, load_default=None)
    destination = choice(DESTINATIONS, load_default=None)
    visit_id = fields.UUID(load_default=None)
    event = choice(EVENTS, load_default=None)
