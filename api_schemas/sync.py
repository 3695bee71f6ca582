"""Sync shapes: a batch of offline visit upserts in, per-item results and changes out."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api_schemas.auth import DEVICE_ID
from api_schemas.cases import CaseSchema
from api_schemas.common import StrictSchema, flag
from api_schemas.visits import VisitInSchema, VisitOutSchema

RESULTS = ("created", "updated", "unchanged", "conflict", "rejected")


class SyncRequestSchema(StrictSchema):
    """A batch from one device. Each item is checked on its own, so one bad item sinks nothing."""

    device_id = fields.String(required=True, validate=DEVICE_ID)
    cursor = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    visits = fields.List(
        fields.Raw(),
        load_default=list,
        metadata={
            "description": "Items shaped like SyncVisit: the PUT body plus id, base_version, submit"
        },
    )


class SyncVisitSchema(VisitInSchema):
    """One offline visit: the ``PUT /visits/{id}`` body plus what sync needs."""

    id = fields.UUID(required=True)
    base_version = fields.Integer(
        strict=True,
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1),
        metadata={"description": "The server version this was edited from; null for a new visit"},
    )
    submit = flag(load_default=False, metadata={"description": "Submit it for review too"})
    attachment_ids = fields.List(
        fields.UUID(),
        load_default=list,
        validate=validate.Length(max=100),
        metadata={"description": "Attachments the tablet holds for this visit"},
    )


class SyncResultSchema(Schema):
    """What happened to one item."""

    id = fields.String()
    result = fields.String(metadata={"enum": list(RESULTS)})
    version = fields.Integer(allow_none=True)
    errors = fields.Dict(metadata={"description": "For rejected: field path → messages"})
    server_visit = fields.Nested(
        VisitOutSchema, allow_none=True, metadata={"description": "For conflict"}
    )
    missing_attachments = fields.List(fields.UUID(), metadata={"description": "Upload these next"})


class ReturnedVisitSchema(VisitOutSchema):
    """A visit a supervisor returned, with what they said."""

    review_comment = fields.String(allow_none=True)


class SyncChangesSchema(Schema):
    """What changed for this worker since the cursor."""

    cases = fields.List(
        fields.Nested(CaseSchema), metadata={"description": "Changed cases in the caseload"}
    )
    caseload_case_ids = fields.List(
        fields.UUID(), metadata={"description": "Every case in the caseload now"}
    )
    returned_visits = fields.List(fields.Nested(ReturnedVisitSchema))


class SyncResponseSchema(Schema):
    """Per-item results, the changes, and the cursor to send next time."""

    results = fields.List(fields.Nested(SyncResultSchema))
    changes = fields.Nested(SyncChangesSchema)
    cursor = fields.String()
