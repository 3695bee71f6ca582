"""Shapes of alerts: a person's own, the managers' view of urgent ones, and preferences."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api_schemas.common import StrictSchema, UTCDateTime, choice, query_flag

KINDS = ("urgent_feedback", "visits_due", "review_waiting", "decision_overdue", "delivery_dead")


class AlertSchema(Schema):
    """An alert: what kind of thing waits, how many, and the page to see it on. It names no
    child, no words and no contact details.
    """

    id = fields.Integer()
    kind = fields.String(metadata={"enum": list(KINDS)})
    subject = fields.String(metadata={"description": "The alert in a line, as emailed"})
    count = fields.Integer(metadata={"description": "How many things are waiting"})
    link = fields.String(metadata={"description": "Where to see them (PUBLIC_BASE_URL)"})
    urgent = fields.Boolean()
    created_at = UTCDateTime()
    acknowledged_at = UTCDateTime(allow_none=True)


class AlertQuerySchema(StrictSchema):
    """Filters for a person's alerts."""

    kind = choice(KINDS, load_default=None)
    acknowledged = query_flag(load_default=None)


class RecipientSchema(Schema):
    """Who an alert went to."""

    id = fields.UUID()
    username = fields.String()
    display_name = fields.String()


class UrgentAlertSchema(Schema):
    """An urgent alert as a manager sees it: who it went to, whether and how fast they
    acknowledged it.
    """

    id = fields.Integer()
    kind = fields.String(metadata={"enum": list(KINDS)})
    link = fields.String()
    created_at = UTCDateTime()
    recipient = fields.Nested(RecipientSchema)
    acknowledged = fields.Boolean()
    acknowledged_at = UTCDateTime(allow_none=True)
    seconds_to_acknowledge = fields.Float(
        allow_none=True, metadata={"description": "From the alert to its acknowledgement"}
    )


class UrgentQuerySchema(StrictSchema):
    """Filters for the urgent alerts."""

    acknowledged = query_flag(load_default=None)


class PreferencesSchema(Schema):
    """A person's alert preferences."""

    email = fields.String(
        allow_none=True, metadata={"description": "Where alerts are emailed (set by an admin)"}
    )
    muted = fields.List(fields.String(metadata={"enum": list(KINDS)}))
    mandatory = fields.List(
        fields.String(metadata={"enum": list(KINDS)}),
        metadata={"description": "Kinds the council requires: they cannot be switched off"},
    )
    kinds = fields.List(fields.String(metadata={"enum": list(KINDS)}))


class PreferencesInSchema(StrictSchema):
    """The kinds of alert to stop emailing (they stay listed in the service)."""

    muted = fields.List(choice(KINDS), required=True, validate=validate.Length(max=len(KINDS)))
