"""Shapes of retention: a case's class, disposal date and legal holds; the due list."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api_schemas.common import StrictSchema, UTCDateTime, query_flag

RETENTION_CLASSES = ("looked_after", "care_leaver", "child_protection", "child_in_need")
REASON_MAX = 500


class LegalHoldReasonSchema(StrictSchema):
    """Why a hold is set or cleared (who and when are recorded from the request)."""

    reason = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=REASON_MAX),
            validate.Regexp(r"\S", error="Give a reason."),
        ],
        metadata={"description": "Why, for the record (e.g. a court order's reference)"},
    )


class LegalHoldSchema(Schema):
    """One period of legal hold."""

    id = fields.Integer()
    set_at = UTCDateTime()
    set_by_id = fields.UUID()
    set_reason = fields.String()
    cleared_at = UTCDateTime(allow_none=True)
    cleared_by_id = fields.UUID(allow_none=True)
    cleared_reason = fields.String(allow_none=True)


class CaseRetentionSchema(Schema):
    """A case's retention: ids, class, dates and holds; nothing about the children themselves."""

    case_id = fields.UUID()
    core_ref = fields.String()
    retention_class = fields.String(metadata={"enum": list(RETENTION_CLASSES)})
    disposal_date = fields.Date(
        allow_none=True,
        metadata={"description": "First day it may be disposed of; null when not computable"},
    )
    legal_hold = fields.Boolean()
    holds = fields.List(fields.Nested(LegalHoldSchema), metadata={"description": "Newest first"})


class DueCaseSchema(Schema):
    """A case due for disposal, with how much a purge would remove."""

    case_id = fields.UUID()
    core_ref = fields.String()
    retention_class = fields.String(metadata={"enum": list(RETENTION_CLASSES)})
    disposal_date = fields.Date()
    legal_hold = fields.Boolean()
    child_ids = fields.List(fields.UUID())
    visits = fields.Integer()
    evidence_objects = fields.Integer()


class DueQuerySchema(StrictSchema):
    """Filters for the due list."""

    as_of = fields.Date(
        load_default=None,
        metadata={"description": "Due on or before this date (default today): to plan ahead"},
    )
    include_held = query_flag(load_default=True)
