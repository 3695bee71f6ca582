"""Visit shapes: the body the tablet PUTs, the record it gets back, and the history."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api_schemas.auth import PersonSchema
from api_schemas.common import (
    SHORT_TEXT,
    QuickDumpSchema,
    StrictSchema,
    UTCDateTime,
    choice,
    flag,
    text,
)
from api_schemas.core_system import DeliverySchema
from service.visits.models import (
    NOT_SEEN_ALONE_REASONS,
    NOT_SEEN_REASONS,
    SCORED_BY,
    VISIT_STATUSES,
    VISIT_TYPES,
    VOICE_METHODS,
)

MAX_CHILDREN = 30
MAX_PEOPLE_PRESENT = 30


class ScaleSchema(StrictSchema):
    """A 0-10 scale: the score, the question asked, and who gave the score."""

    score = fields.Integer(strict=True, required=True, validate=validate.Range(0, 10))
    question = text(500, required=True)
    scored_by = choice(SCORED_BY, required=True)


class VoiceSchema(StrictSchema):
    """The voice of the child: their own words verbatim, kept apart from interpretation."""

    own_words = text(allow_none=True, metadata={"description": "The child's words, verbatim"})
    wishes_and_feelings = text(allow_none=True)
    good_things = text(
        allow_none=True, metadata={"description": "Three Houses: house of good things"}
    )
    worries = text(allow_none=True, metadata={"description": "Three Houses: house of worries"})
    dreams = text(allow_none=True, metadata={"description": "Three Houses: house of dreams"})
    scale = fields.Nested(ScaleSchema, allow_none=True)
    method = choice(VOICE_METHODS, allow_none=True)
    consent_to_share = flag(allow_none=True)
    not_gathered_reason = text(
        allow_none=True, metadata={"description": "Why the child's views could not be gathered"}
    )


class VisitChildSchema(StrictSchema):
    """What happened for one child on the visit."""

    child_id = fields.UUID(required=True)
    seen = flag(allow_none=True)
    seen_alone = flag(allow_none=True)
    not_seen_reason = choice(NOT_SEEN_REASONS, allow_none=True)
    not_seen_detail = text(2000, allow_none=True)
    not_seen_alone_reason = choice(NOT_SEEN_ALONE_REASONS, allow_none=True)
    not_seen_alone_detail = text(2000, allow_none=True)
    bedroom_seen = flag(allow_none=True)
    voice = fields.Nested(VoiceSchema, allow_none=True)


class VisitInSchema(StrictSchema):
    """The body of ``PUT /visits/{id}``: a whole draft (incomplete is fine until submit)."""

    case_id = fields.UUID(required=True)
    visit_type = choice(VISIT_TYPES, required=True)
    announced = flag(allow_none=True)
    started_at = UTCDateTime(required=True, metadata={"description": "ISO 8601 with offset"})
    ended_at = UTCDateTime(allow_none=True)
    location = text(100, allow_none=True)
    people_present = fields.List(
        text(SHORT_TEXT), validate=validate.Length(max=MAX_PEOPLE_PRESENT), load_default=list
    )
    children = fields.List(
        fields.Nested(VisitChildSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_CHILDREN),
    )
    observations = text(allow_none=True)
    analysis = text(allow_none=True)
    next_actions = text(allow_none=True)

    @validates_schema
    def _children_once_each(self, data: dict[str, Any], **kwargs: Any) -> None:
        ids = [child["child_id"] for child in data.get("children", [])]
        if len(ids) != len(set(ids)):
            raise ValidationError("Each child may appear only once.", "children")


class VisitChildOutSchema(VisitChildSchema):
    """A child on a visit, as returned (with the child's name for display)."""

    child_name = fields.String()


class VisitOutSchema(QuickDumpSchema):
    """A visit record."""

    id = fields.UUID()
    case_id = fields.UUID()
    visit_type = fields.String()
    announced = fields.Boolean(allow_none=True)
    started_at = UTCDateTime()
    ended_at = UTCDateTime(allow_none=True)
    location = fields.String(allow_none=True)
    people_present = fields.List(fields.String())
    children = fields.List(fields.Nested(VisitChildOutSchema))
    observations = fields.String(allow_none=True)
    analysis = fields.String(allow_none=True)
    next_actions = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": list(VISIT_STATUSES)})
    version = fields.Integer(metadata={"description": "Bumped on every change; also the ETag"})
    worker = fields.Nested(PersonSchema)
    recorded_at = UTCDateTime()
    updated_at = UTCDateTime()
    submitted_at = UTCDateTime(allow_none=True, metadata={"description": "First submission"})
    last_submitted_at = UTCDateTime(allow_none=True)
    amendment_reason = fields.String(allow_none=True)
    delivery = fields.Nested(
        DeliverySchema,
        allow_none=True,
        metadata={
            "description": "Delivery of the approved record to the core case system; "
            "null until the visit is first approved"
        },
    )


class VisitQuerySchema(StrictSchema):
    """Filters for the visit list."""

    case_id = fields.UUID(load_default=None)
    child_id = fields.UUID(load_default=None)
    status = choice(VISIT_STATUSES, load_default=None)
    worker_id = fields.UUID(load_default=None)
    started_from = UTCDateTime(load_default=None)
    started_to = UTCDateTime(load_default=None)


class AmendSchema(StrictSchema):
    """Why an approved visit is being reopened."""

    reason = fields.String(required=True, validate=validate.Length(min=3, max=2000))


class VersionSummarySchema(Schema):
    """One submission in a visit's history."""

    number = fields.Integer()
    visit_version = fields.Integer(metadata={"description": "The visit's version (ETag) it made"})
    submitted_at = UTCDateTime()
    submitted_by_id = fields.UUID()
    amendment_reason = fields.String(allow_none=True)
    format = fields.Integer(metadata={"description": "The snapshot's record format"})
    sha256 = fields.String(metadata={"description": "SHA-256 of the snapshot's canonical JSON"})


class VersionEvidenceSchema(Schema):
    """Evidence a version held, and what has happened to it since."""

    id = fields.UUID()
    kind = fields.String()
    child_id = fields.UUID(allow_none=True)
    content_type = fields.String()
    size = fields.Integer(metadata={"description": "Bytes stored"})
    sha256 = fields.String(allow_none=True, metadata={"description": "Of the bytes stored"})
    withdrawn_at = UTCDateTime(allow_none=True, metadata={"description": "Left later versions"})
    erased_at = UTCDateTime(allow_none=True, metadata={"description": "Bytes erased: tombstone"})
    erased_reason = fields.String(allow_none=True)


class VersionSchema(VersionSummarySchema):
    """One submission, with the visit exactly as it was submitted."""

    snapshot = fields.Dict(
        metadata={
            "description": "The record as submitted, in its own format (see `format`; README)"
        }
    )
    evidence = fields.List(fields.Nested(VersionEvidenceSchema))
