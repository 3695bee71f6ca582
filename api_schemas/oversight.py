"""Oversight shapes: overdue children, counts by team, a child's chronology."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api_schemas.auth import PersonSchema, TeamSchema
from api_schemas.common import StrictSchema, UTCDateTime, choice
from service.timescales import PLAN_TYPES


class OverdueQuerySchema(StrictSchema):
    """Filters for the overdue list."""

    within_days = fields.Integer(
        load_default=None,
        validate=validate.Range(min=0, max=365),
        metadata={"description": "Also children due within this many days"},
    )
    team_id = fields.UUID(load_default=None)
    worker_id = fields.UUID(load_default=None)
    plan_type = choice(PLAN_TYPES, load_default=None)


class OverdueChildSchema(Schema):
    """A child overdue (or soon due) a statutory visit."""

    child_id = fields.UUID()
    child_name = fields.String()
    date_of_birth = fields.Date(allow_none=True)
    plan_type = fields.String()
    plan_start_date = fields.Date()
    case_id = fields.UUID()
    core_ref = fields.String()
    team = fields.Nested(TeamSchema)
    allocated_worker = fields.Nested(PersonSchema, allow_none=True)
    last_seen_at = UTCDateTime(allow_none=True)
    last_seen_alone_at = UTCDateTime(allow_none=True)
    next_visit_due = fields.Date()
    days_overdue = fields.Integer(metadata={"description": "Negative: due in that many days"})
    never_seen = fields.Boolean(metadata={"description": "No visit seen since the plan started"})


class SummaryQuerySchema(StrictSchema):
    """The period for visit-based rates."""

    days = fields.Integer(load_default=90, validate=validate.Range(min=1, max=730))


class TeamSummarySchema(Schema):
    """Counts and rates for one team (or ``total``)."""

    team = fields.Nested(TeamSchema, allow_none=True)
    children = fields.Integer()
    seen_within_timescale = fields.Integer()
    seen_within_timescale_pct = fields.Float(allow_none=True)
    statutory_visits_child_seen = fields.Integer(metadata={"description": "In the period"})
    seen_alone = fields.Integer()
    seen_alone_pct = fields.Float(allow_none=True)
    awaiting_review = fields.Integer()
    oldest_waiting_since = UTCDateTime(allow_none=True)
    late_recordings = fields.Integer(
        metadata={"description": "Statutory visits first submitted in the period"}
    )
    children_without_views_in_last_3_visits = fields.Integer()


class SummarySchema(Schema):
    """Oversight counts by team and in total."""

    period_days = fields.Integer()
    teams = fields.List(fields.Nested(TeamSummarySchema))
    total = fields.Nested(TeamSummarySchema)


class ChronologyQuerySchema(StrictSchema):
    """Chronology output format."""

    format = choice(("json", "csv"), load_default="json")


class ChronologyEntrySchema(Schema):
    """One event in a child's life as the record shows it."""

    at = UTCDateTime()
    kind = fields.String(metadata={"enum": ["plan", "visit", "review"]})
    visit_id = fields.UUID(allow_none=True)
    summary = fields.String()
    details = fields.Dict()
