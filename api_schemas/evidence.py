"""Evidence shapes: the upload's fields (headers or form) and the attachment record."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api_schemas.common import StrictSchema, UTCDateTime, choice, query_flag, text
from service.evidence.models import KINDS


class UploadFieldsSchema(StrictSchema):
    """What the client says about a file: from X- headers (raw body) or form fields (multipart)."""

    attachment_id = fields.UUID(required=True, metadata={"description": "Client-chosen UUID"})
    kind = choice(KINDS, required=True)
    child_id = fields.UUID(load_default=None, allow_none=True)
    filename = text(1000, load_default=None, allow_none=True)
    sha256 = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^[0-9a-fA-F]{64}$", error="Must be 64 hex digits."),
    )


class AttachmentSchema(Schema):
    """An attachment as stored."""

    id = fields.UUID()
    visit_id = fields.UUID()
    child_id = fields.UUID(allow_none=True)
    kind = fields.String()
    filename = fields.String(metadata={"description": "Sanitised: no path, no control characters"})
    content_type = fields.String(metadata={"description": "Sniffed from the bytes"})
    size = fields.Integer(metadata={"description": "Bytes uploaded"})
    sha256 = fields.String(metadata={"description": "SHA-256 of the bytes uploaded"})
    metadata_removed = fields.Boolean(metadata={"description": "EXIF/GPS/XMP stripped (images)"})
    stored_sha256 = fields.String(
        allow_none=True, metadata={"description": "SHA-256 of the bytes stored, as versions list"}
    )
    uploaded_at = UTCDateTime()
    in_record = fields.Boolean(
        metadata={"description": "A submitted version holds it: it can be withdrawn, not deleted"}
    )
    first_version = fields.Integer(allow_none=True)
    withdrawn_at = UTCDateTime(allow_none=True)
    withdrawn_reason = fields.String(allow_none=True)
    erased_at = UTCDateTime(allow_none=True)
    erased_reason = fields.String(allow_none=True)


class ReasonSchema(StrictSchema):
    """Why evidence is withdrawn or erased."""

    reason = fields.String(required=True, validate=validate.Length(min=3, max=2000))


class ContentQuerySchema(StrictSchema):
    """Options for fetching an attachment's content."""

    redirect = query_flag(
        load_default=False,
        metadata={"description": "Answer 302 to a presigned URL (S3 store only; 60 s at most)"},
    )
