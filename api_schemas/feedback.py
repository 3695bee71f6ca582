"""Feedback shapes: invites, responses for triage, and the summary."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api_schemas.common import StrictSchema, UTCDateTime, choice, query_flag, text
from service.feedback.models import TRIAGE_NOTE_MAX, TRIAGE_STATUSES


class InviteInSchema(StrictSchema):
    """A personal link for one care leaver in your scope."""

    child_id = fields.UUID(required=True)
    valid_days = fields.Integer(
        strict=True, load_default=30, validate=validate.Range(min=1, max=90)
    )
    period_days = fields.Integer(
        strict=True,
        load_default=30,
        validate=validate.Range(min=1, max=365),
        metadata={"description": "The link can be used once in each period of this many days"},
    )


class InviteSchema(Schema):
    """A created invite: send ``url`` to the care leaver."""

    id = fields.UUID()
    child_id = fields.UUID()
    url = fields.String()
    expires_at = UTCDateTime()
    period_days = fields.Integer()


class FeedbackQuerySchema(StrictSchema):
    """Filters for triage."""

    status = choice(TRIAGE_STATUSES, load_default=None)
    urgent = query_flag(load_default=None)
    since = UTCDateTime(load_default=None)


class FeedbackSchema(Schema):
    """One response."""

    id = fields.UUID()
    submitted_at = UTCDateTime()
    language = fields.String()
    urgent = fields.Boolean()
    life_satisfaction = fields.Integer(allow_none=True)
    worthwhile = fields.Integer(allow_none=True)
    happy_yesterday = fields.Integer(allow_none=True)
    anxious_yesterday = fields.Integer(allow_none=True)
    settled = fields.String(allow_none=True)
    trusted_person = fields.String(allow_none=True)
    adviser_support = fields.String(allow_none=True)
    coping_with_money = fields.String(allow_none=True)
    safe_at_home = fields.String(allow_none=True)
    anything_else = fields.String(allow_none=True)
    wants_contact = fields.Boolean()
    contact_name = fields.String(allow_none=True)
    contact_detail = fields.String(allow_none=True)
    child_id = fields.UUID(
        allow_none=True, metadata={"description": "Set when sent through an invite"}
    )
    triage_status = fields.String()
    triage_note = fields.String(allow_none=True)
    triaged_at = UTCDateTime(allow_none=True)


class TriageSchema(StrictSchema):
    """Where a response is in triage."""

    status = choice(TRIAGE_STATUSES, required=True)
    note = text(TRIAGE_NOTE_MAX, load_default=None, allow_none=True)


class SummaryQuerySchema(StrictSchema):
    """How many months to summarise."""

    months = fields.Integer(load_default=12, validate=validate.Range(min=1, max=36))


class MonthSummarySchema(Schema):
    """One month; ``suppressed`` when fewer than five responded (then nothing else is shown)."""

    month = fields.String()
    responses = fields.Integer(allow_none=True)
    suppressed = fields.Boolean()
    urgent = fields.Integer(allow_none=True)
    averages = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True))
    distributions = fields.Dict(keys=fields.String(), values=fields.Dict())
