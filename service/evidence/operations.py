"""Uploading, listing, reading and deleting evidence; the object is written before its row.

If the row cannot be written, the object is deleted again; if the process dies in between, the
``evidence reconcile`` command removes the orphan. A replayed upload (same attachment id, same
bytes) returns the existing record; the same id with other bytes is a 409.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from dataclasses import dataclass
from typing import BinaryIO

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service.auth.models import User
from service.database import after_commit
from service.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from service.evidence.content import (
    IMAGES,
    SNIFF_BYTES,
    HashingReader,
    TooLarge,
    check_type,
    safe_filename,
    strip_image_metadata,
)
from service.evidence.models import Attachment
from service.extensions import db
from service.policy import can_edit_visit, can_read_visit
from service.visits.models import Visit
from service.visits.operations import EDITABLE, get_visit
from storage import EvidenceStore, StorageError, StorageUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    """What the client said about the file it is sending."""

    attachment_id: uuid.UUID
    kind: str
    child_id: uuid.UUID | None
    filename: str | None
    declared_type: str
    declared_sha256: str | None
    declared_length: int | None


def evidence_store() -> EvidenceStore:
    """The process's evidence store, built once from configuration."""
    store: EvidenceStore = current_app.extensions["evidence_store"]
    return store


def size_limit(kind: str) -> int:
    """The upload limit for ``kind`` in bytes."""
    return int(current_app.config["EVIDENCE_MAX_MB"][kind]) * 1024 * 1024


def store_unavailable(error: StorageError) -> ServiceUnavailable:
    """Map a store failure to 503 (its detail stays in the log, not the response)."""
    log.warning("evidence store failure: %s", error)
    return ServiceUnavailable(
        "evidence.store_unavailable",
        "Evidence cannot be stored or read just now; nothing was kept. Retry with the same id.",
        retry_after=30,
    )


def _own_visit(user: User, visit_id: uuid.UUID) -> Visit:
    visit = get_visit(user, visit_id)
    if not can_edit_visit(user, visit):
        raise NotFound("visit.not_found", "No such visit among yours.")
    return visit


def upload_attachment(
    user: User, visit_id: uuid.UUID, upload: Upload, stream: BinaryIO
) -> tuple[Attachment, bool]:
    """Check, store and record one file; return it and whether it was new."""
    visit = _own_visit(user, visit_id)
    limit = size_limit(upload.kind)
    if upload.declared_length is not None and upload.declared_length > limit:
        raise TooLarge(
            "attachment.too_large", f"A {upload.kind} may be at most {limit // 2**20} MiB."
        )
    reader = HashingReader(stream, limit)
    existing = db.session.get(Attachment, upload.attachment_id)
    if existing is not None:
        # A retry after a dropped connection answers the same, even if the visit was
        # submitted in between.
        return _replay(existing, visit, upload, reader), False
    if visit.status not in EDITABLE:
        raise Conflict("visit.not_editable", f"Evidence cannot be added to a {visit.status} visit.")
    if upload.child_id and upload.child_id not in {row.child_id for row in visit.children}:
        raise ValidationFailed(
            "attachment.invalid",
            "Not valid.",
            errors={"child_id": ["This child is not on the visit."]},
        )
    head = reader.peek(SNIFF_BYTES)
    if not head:
        raise ValidationFailed("attachment.empty", "The file is empty.")
    content_type = check_type(upload.kind, head, upload.declared_type, upload.filename or "")
    key = f"visits/{visit.id}/{upload.attachment_id}-{uuid.uuid4().hex}"
    stored_size, metadata_removed = _store(key, content_type, reader)
    try:
        _check_digest(reader, upload)
        attachment = Attachment(
            id=upload.attachment_id,
            visit_id=visit.id,
            child_id=upload.child_id,
            kind=upload.kind,
            filename=safe_filename(upload.filename, content_type),
            content_type=content_type,
            sha256=reader.sha256,
            size=reader.size,
            stored_size=stored_size,
            store_key=key,
            metadata_removed=metadata_removed,
            uploaded_by_id=user.id,
        )
        with db.session.begin_nested():
            db.session.add(attachment)
    except IntegrityError:
        _delete_quietly(key)
        winner = db.session.get(Attachment, upload.attachment_id, populate_existing=True)
        if winner is None:
            raise
        return _same_or_conflict(winner, visit, reader.sha256), False
    except BaseException:
        _delete_quietly(key)
        raise
    return attachment, True


def _store(key: str, content_type: str, reader: HashingReader) -> tuple[int, bool]:
    """Write the object; images are re-encoded without metadata first."""
    store = evidence_store()
    try:
        if content_type in IMAGES:
            with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as original:
                while chunk := reader.read(1024 * 1024):
                    original.write(chunk)
                original.seek(0)
                cleaned = strip_image_metadata(original, content_type)  # type: ignore[arg-type]
            with cleaned:
                return store.put(key, cleaned), True
        return store.put(key, reader), False  # type: ignore[arg-type]
    except StorageError as error:
        _delete_quietly(key)
        raise store_unavailable(error) from None


def _check_digest(reader: HashingReader, upload: Upload) -> None:
    if upload.declared_sha256 and upload.declared_sha256.lower() != reader.sha256:
        raise ValidationFailed(
            "attachment.digest_mismatch",
            "The file's SHA-256 does not match X-Content-SHA256; nothing was kept.",
            errors={"sha256": ["Does not match the bytes received."]},
        )


def _replay(
    existing: Attachment, visit: Visit, upload: Upload, reader: HashingReader
) -> Attachment:
    if upload.declared_sha256:
        return _same_or_conflict(existing, visit, upload.declared_sha256.lower())
    reader.drain()
    return _same_or_conflict(existing, visit, reader.sha256)


def _same_or_conflict(existing: Attachment, visit: Visit, sha256: str) -> Attachment:
    if existing.visit_id != visit.id or existing.sha256 != sha256:
        raise Conflict(
            "attachment.id_conflict", "This attachment id is already used for different content."
        )
    return existing


def _delete_quietly(key: str) -> None:
    """Best effort: an object left behind is an orphan for ``evidence reconcile``."""
    try:
        evidence_store().delete(key)
    except StorageError as error:
        log.warning("could not delete %s after a failed upload: %s", key, error)


def list_attachments(user: User, visit_id: uuid.UUID) -> list[Attachment]:
    """The visit's attachments, oldest first."""
    visit = get_visit(user, visit_id)
    return list(
        db.session.scalars(
            select(Attachment)
            .where(Attachment.visit_id == visit.id)
            .order_by(Attachment.uploaded_at, Attachment.id)
        )
    )


def get_attachment(user: User, attachment_id: uuid.UUID) -> Attachment:
    """The attachment, if its visit is in ``user``'s scope; otherwise 404."""
    attachment = db.session.get(Attachment, attachment_id)
    visit = db.session.get(Visit, attachment.visit_id) if attachment else None
    if attachment is None or visit is None or not can_read_visit(user, visit):
        raise NotFound("attachment.not_found", "No such attachment.")
    return attachment


def delete_attachment(user: User, attachment_id: uuid.UUID) -> None:
    """Remove an attachment from a draft visit, by its author; the object goes too."""
    attachment = get_attachment(user, attachment_id)
    visit = db.session.get(Visit, attachment.visit_id)
    if visit is None or not can_edit_visit(user, visit):
        raise NotFound("attachment.not_found", "No such attachment among yours.")
    if visit.status != "draft":
        raise Conflict("attachment.not_deletable", "Evidence can only be removed from a draft.")
    key = attachment.store_key
    db.session.delete(attachment)
    db.session.flush()
    after_commit(lambda: _delete_quietly(key))


def drawing_child_ids(visit_id: uuid.UUID) -> set[uuid.UUID]:
    """Children of the visit with a drawing attached: a drawing is the child's view too."""
    rows = db.session.scalars(
        select(Attachment.child_id).where(
            Attachment.visit_id == visit_id,
            Attachment.kind == "drawing",
            Attachment.child_id.is_not(None),
        )
    )
    return {child_id for child_id in rows if child_id is not None}


def check_store() -> None:
    """Raise :class:`StorageError` when the evidence store is unusable (for ``/readyz``)."""
    try:
        evidence_store().check()
    except StorageUnavailable:
        raise
    except FileNotFoundError as error:
        raise StorageError(str(error)) from None


def remove_visit_evidence(visit: Visit) -> None:
    """Delete a draft visit's attachments: rows now, objects once that has committed."""
    attachments = list(
        db.session.scalars(select(Attachment).where(Attachment.visit_id == visit.id))
    )
    for attachment in attachments:
        db.session.delete(attachment)
    db.session.flush()
    keys = [attachment.store_key for attachment in attachments]

    def delete_objects() -> None:
        for key in keys:
            _delete_quietly(key)

    after_commit(delete_objects)
