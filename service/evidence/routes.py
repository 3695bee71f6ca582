"""Evidence endpoints: upload (raw or multipart), list, fetch content, delete."""

from __future__ import annotations

import uuid
from typing import Any

from flask import g, redirect, request
from marshmallow import ValidationError

from api_schemas.evidence import (
    AttachmentSchema,
    ContentQuerySchema,
    ReasonSchema,
    UploadFieldsSchema,
)
from service.api import Blueprint, retry_after_headers
from service.audit.events import Action, Subject, about_children
from service.audit.reads import audit_exempt, audited, describe
from service.errors import ValidationFailed, flatten_errors
from service.evidence import operations
from service.evidence.models import Attachment
from service.evidence.streaming import stream_attachment
from service.extensions import db
from service.visits.models import Visit

blp = Blueprint("evidence", __name__, description="Photos, drawings, audio and documents.")

READERS = ("social_worker", "supervisor", "manager")
HEADER_FIELDS = {
    "X-Attachment-Id": "attachment_id",
    "X-Attachment-Kind": "kind",
    "X-Child-Id": "child_id",
    "X-Filename": "filename",
    "X-Content-SHA256": "sha256",
}
FORM_FIELDS = {"attachment_id", "kind", "child_id", "filename", "sha256"}
UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "attachment_id", "kind"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "attachment_id": {"type": "string", "format": "uuid"},
                        "kind": {
                            "type": "string",
                            "enum": ["photo", "drawing", "audio", "video", "document"],
                        },
                        "child_id": {"type": "string", "format": "uuid"},
                        "sha256": {"type": "string"},
                    },
                }
            },
        },
    },
    "parameters": [
        {"in": "header", "name": name, "schema": {"type": "string"}, "required": False}
        for name in HEADER_FIELDS
    ],
}


def _load_fields(raw: dict[str, Any]) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = UploadFieldsSchema().load(raw)
    except ValidationError as error:
        raise ValidationFailed(
            "attachment.invalid",
            "The upload's fields are missing or not valid; see errors.",
            errors=flatten_errors(error.messages),
        ) from None
    return loaded


def _read_upload() -> tuple[operations.Upload, Any]:
    """The upload's fields and the file stream, from a raw body or a multipart form."""
    # Larger than the JSON limit: the per-kind limit is enforced while streaming.
    request.max_content_length = (
        max(operations.size_limit(kind) for kind in ("video", "audio")) + 2**20
    )
    if request.mimetype == "multipart/form-data":
        unknown = set(request.form) - FORM_FIELDS
        if unknown or set(request.files) - {"file"}:
            extra = unknown | (set(request.files) - {"file"})
            raise ValidationFailed(
                "attachment.invalid",
                "Unknown form fields.",
                errors={k: ["Unknown field."] for k in extra},
            )
        file = request.files.get("file")
        if file is None:
            raise ValidationFailed(
                "attachment.invalid", "No file.", errors={"file": ["Missing file part."]}
            )
        fields = _load_fields(
            {k: v for k, v in request.form.items() if v != ""} | {"filename": file.filename}
        )
        upload = operations.Upload(
            fields["attachment_id"],
            fields["kind"],
            fields["child_id"],
            fields["filename"],
            file.mimetype or "",
            fields["sha256"],
            None,
        )
        return upload, file.stream
    raw = {
        field: request.headers[header]
        for header, field in HEADER_FIELDS.items()
        if request.headers.get(header)
    }
    fields = _load_fields(raw)
    upload = operations.Upload(
        fields["attachment_id"],
        fields["kind"],
        fields["child_id"],
        fields["filename"],
        request.mimetype or "",
        fields["sha256"],
        request.content_length,
    )
    return upload, request.stream


WRITES = "a write: the visit's lifecycle records it"


@describe.register
def _attachment_subjects(attachment: Attachment) -> list[Subject]:
    if attachment.child_id is not None:
        return [Subject("attachment", attachment.id, attachment.child_id)]
    visit = db.session.get(Visit, attachment.visit_id)
    children = [child.child_id for child in visit.children] if visit else []
    return about_children("attachment", attachment.id, children)


def _replayed(result: tuple[Attachment, int], **view_args: Any) -> list[Subject]:
    """A new file is heard from the visit's lifecycle; the trail hears a replay from here."""
    attachment, status = result
    return describe(attachment) if status == 200 else []


def _downloaded(result: Any, attachment_id: uuid.UUID, **view_args: Any) -> list[Subject]:
    attachment = db.session.get(Attachment, attachment_id)
    return describe(attachment) if attachment else []


@blp.post("/visits/<uuid:visit_id>/attachments")
@blp.login_required("social_worker")
@blp.doc(**UPLOAD_DOC)
@blp.response(201, AttachmentSchema, description="Stored")
@blp.alt_response(200, schema=AttachmentSchema, description="Same id and bytes sent again")
@blp.alt_response(409, description="Same id, different bytes; or the visit is not editable")
@blp.alt_response(413, description="Over the limit for this kind")
@blp.alt_response(415, description="Content not allowed for this kind, or mislabelled")
@blp.alt_response(422, description="Bad fields, empty file, digest mismatch")
@blp.alt_response(
    503,
    description="Evidence store unreachable; retry later with the same id",
    headers=retry_after_headers(),
)
@blp.alt_response(
    507,
    description="Evidence store full; retry later with the same id",
    headers=retry_after_headers(),
)
@audited(Action.REPLAY, subjects=_replayed)
def upload_attachment(visit_id: uuid.UUID) -> Any:
    """Stream a file onto a draft or returned visit.

    Either a raw body with ``Content-Type`` and the headers ``X-Attachment-Id`` (UUID),
    ``X-Attachment-Kind``, ``X-Filename``, optional ``X-Child-Id`` and ``X-Content-SHA256``; or
    ``multipart/form-data`` with ``file``, ``attachment_id``, ``kind``, optional ``child_id`` and
    ``sha256``. The type is sniffed from the bytes; photos and drawings are re-encoded without
    EXIF/GPS metadata. Sending the same id and bytes again returns the stored record (200).
    """
    upload, stream = _read_upload()
    attachment, created = operations.upload_attachment(g.user, visit_id, upload, stream)
    return attachment, 201 if created else 200


@blp.get("/visits/<uuid:visit_id>/attachments")
@blp.login_required(*READERS)
@blp.response(200, AttachmentSchema(many=True))
@audited(Action.LIST)
def list_attachments(visit_id: uuid.UUID) -> list[Attachment]:
    """The visit's attachments (records only; fetch each file from its content URL)."""
    return operations.list_attachments(g.user, visit_id)


@blp.get("/attachments/<uuid:attachment_id>/content")
@blp.login_required(*READERS)
@blp.arguments(ContentQuerySchema, location="query")
@blp.response(200, description="The file, streamed as an attachment (206 for a byte range)")
@blp.alt_response(302, description="Redirect to a presigned URL valid for at most 60 seconds")
@blp.alt_response(410, description="Erased from the record by a manager")
@blp.alt_response(416, description="Unsatisfiable range")
@audited(Action.READ, subjects=_downloaded)
def attachment_content(query: dict[str, Any], attachment_id: uuid.UUID) -> Any:
    """The file itself, with its sniffed type, as a download (never rendered inline).

    Supports ``Range`` requests (audio and video seek). With ``?redirect=true`` and an S3 store,
    answers a redirect to a short-lived presigned URL instead.
    """
    attachment = operations.readable_attachment(g.user, attachment_id)
    store = operations.evidence_store()
    if query["redirect"]:
        url = store.presigned_url(
            attachment.store_key,
            attachment.filename,
            attachment.content_type,
            _presign_seconds(),
        )
        if url:
            return redirect(url, 302)
    return stream_attachment(attachment)


def _presign_seconds() -> int:
    from flask import current_app

    return int(current_app.config["PRESIGNED_URL_SECONDS"])


@blp.delete("/attachments/<uuid:attachment_id>")
@blp.login_required("social_worker")
@blp.response(204)
@blp.alt_response(409, description="Not a draft or returned visit; or in the record: withdraw it")
@audit_exempt(WRITES)
def delete_attachment(attachment_id: uuid.UUID) -> None:
    """Remove evidence no submitted version holds, from a draft or returned visit (the stored
    object is deleted too). Evidence that is part of the record can only be withdrawn.
    """
    operations.delete_attachment(g.user, attachment_id)


@blp.post("/attachments/<uuid:attachment_id>/withdraw")
@blp.login_required("social_worker")
@blp.arguments(ReasonSchema)
@blp.response(200, AttachmentSchema)
@blp.alt_response(409, description="Not a draft or returned visit; or never submitted: delete it")
@audit_exempt(WRITES)
def withdraw_attachment(body: dict[str, Any], attachment_id: uuid.UUID) -> Attachment:
    """Withdraw evidence from the next version of a returned or amended visit, with the reason.

    The versions already submitted keep it (and it can still be read from them); the next
    submission will not hold it. Withdrawing again is harmless.
    """
    return operations.withdraw_attachment(g.user, attachment_id, body["reason"])


@blp.post("/attachments/<uuid:attachment_id>/erase")
@blp.login_required("manager")
@blp.arguments(ReasonSchema)
@blp.response(200, AttachmentSchema)
@audit_exempt(WRITES)
def erase_attachment(body: dict[str, Any], attachment_id: uuid.UUID) -> Attachment:
    """Erase evidence from the record altogether: a manager's decision, with the reason.

    For a file that should never have been kept (a photo of the wrong family). The stored bytes
    are deleted; the record keeps a tombstone: the attachment's id, kind, digest, who erased it,
    when and why, and every version that held it still lists it, marked erased. Its content
    answers 410 from then on. Erasing again is harmless.
    """
    return operations.erase_attachment(g.user, attachment_id, body["reason"])
