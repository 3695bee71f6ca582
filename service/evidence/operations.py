"""Uploading, listing, reading, withdrawing and erasing evidence.

The object is written before its row. If the row cannot be written, the object is deleted
again; if the process dies in between, the ``evidence reconcile`` command removes the orphan. A
replayed upload (same attachment id, same bytes) returns the existing record; the same id with
other bytes is a 409.

Evidence that a submitted version holds is part of the record. Its author can no longer delete
it, only withdraw it (with a reason) from the next version; the earlier versions keep it. A
manager can erase it altogether (a photo of the wrong family): the bytes go, and the row stays
as the tombstone the versions point to. Every change goes through the visit's lifecycle, which
holds the visit's row so that no submission interleaves with it.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import tempfile
import uuid
from dataclasses import dataclass
from typing import BinaryIO

from flask import Flask, current_app
from PIL import Image
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service.audit.events import Subject
from service.auth.models import User
from service.columns import utcnow
from service.database import after_commit
from service.errors import (
    Conflict,
    DomainError,
    InsufficientStorage,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)
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
from service.policy import can_edit_visit, can_read_visit, refused
from service.visits import lifecycle
from service.visits.lifecycle import Action, VisitEvent, visit_changed
from service.visits.models import Visit
from service.visits.operations import get_own_visit, get_visit
from storage import EvidenceStore, StorageError, StorageFull

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
    return get_own_visit(user, visit_id)


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
    if visit.status not in lifecycle.EDITABLE:
        raise lifecycle.refusal(visit, Action.ADD_EVIDENCE)
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
    stored_size, metadata_removed, stored_sha256 = _store(key, content_type, reader)
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
            stored_sha256=stored_sha256 or reader.sha256,
            metadata_removed=metadata_removed,
            uploaded_by_id=user.id,
        )
        # Held only now, not while the bytes streamed in, so a submission waits for a row
        # insert and never for a whole upload.
        with (
            db.session.begin_nested(),
            lifecycle.transition(
                user, visit, Action.ADD_EVIDENCE, expected=None, attachment=str(attachment.id)
            ),
        ):
            db.session.add(attachment)
            db.session.flush()
    except IntegrityError:
        _discard(key)
        winner = db.session.get(Attachment, upload.attachment_id, populate_existing=True)
        if winner is None:
            raise
        return _same_or_conflict(winner, visit, reader.sha256), False
    except BaseException:
        _discard(key)
        raise
    return attachment, True


def _store(key: str, content_type: str, reader: HashingReader) -> tuple[int, bool, str | None]:
    """Write the object; images are re-encoded without metadata first.

    Returns the stored size, whether metadata was removed, and the SHA-256 of the stored bytes
    when they differ from the upload's.
    """
    store = evidence_store()
    try:
        if content_type in IMAGES:
            with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as original:
                while chunk := reader.read(1024 * 1024):
                    original.write(chunk)
                original.seek(0)
                cleaned = strip_image_metadata(
                    original,  # type: ignore[arg-type]
                    content_type,
                    current_app.config["MAX_IMAGE_PIXELS"],
                )
            with cleaned:
                digest = hashlib.file_digest(cleaned, "sha256").hexdigest()  # type: ignore[arg-type]
                cleaned.seek(0)
                return store.put(key, cleaned), True, digest
        return store.put(key, reader), False, None  # type: ignore[arg-type]
    except StorageFull as error:
        log.error("evidence store full: %s", error)
        raise store_full() from None
    except OSError as error:
        # A photo is spooled to the server's temporary folder (past 8 MiB) before it is cleaned.
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        log.error("temporary folder full while cleaning a photo: %s", error.strerror)
        raise store_full() from None
    except StorageError as error:
        # No clean-up call to a store that just failed (it may be hung, and the worker's time is
        # bounded): a failed PUT stores nothing, a failed multipart upload was aborted, and an
        # object stored whose answer was lost is an orphan for `evidence reconcile`.
        raise store_unavailable(error) from None


def store_full() -> InsufficientStorage:
    """507: no room for the file (the evidence store, or the server's temporary folder)."""
    return InsufficientStorage(
        "evidence.store_full",
        "There is no room to store the file just now; nothing was kept. Retry with the same id "
        "later.",
    )


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


def _discard(key: str) -> None:
    """Clean up after a failed upload with one quick try, so that a store hanging now cannot
    hold the worker past its timeout; an object left behind is an orphan for ``evidence
    reconcile``.
    """
    try:
        evidence_store().discard(key)
    except StorageError as error:
        log.warning("could not delete %s after a failed upload: %s", key, error)


def _delete_quietly(key: str) -> None:
    """Best effort: an object left behind is an orphan for ``evidence reconcile``."""
    try:
        evidence_store().delete(key)
    except StorageError as error:
        log.warning("could not delete %s: %s", key, error)


def _delete_all_quietly(keys: list[str]) -> None:
    for key in keys:
        _delete_quietly(key)


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


def _children(visit: Visit) -> list[uuid.UUID | None]:
    return [row.child_id for row in visit.children] or [None]


def get_attachment(user: User, attachment_id: uuid.UUID) -> Attachment:
    """The attachment, if its visit is in ``user``'s scope; otherwise 404."""
    attachment = db.session.get(Attachment, attachment_id)
    visit = db.session.get(Visit, attachment.visit_id) if attachment else None
    if attachment is not None and visit is not None and not can_read_visit(user, visit):
        about = [attachment.child_id] if attachment.child_id else _children(visit)
        refused(user, [Subject("attachment", attachment.id, child) for child in about])
    if attachment is None or visit is None or not can_read_visit(user, visit):
        raise NotFound("attachment.not_found", "No such attachment.")
    return attachment


def _own_attachment(user: User, attachment_id: uuid.UUID) -> tuple[Attachment, Visit]:
    attachment = get_attachment(user, attachment_id)
    visit = db.session.get(Visit, attachment.visit_id)
    if visit is None or not can_edit_visit(user, visit):
        raise NotFound("attachment.not_found", "No such attachment among yours.")
    return attachment, visit


def delete_attachment(user: User, attachment_id: uuid.UUID) -> None:
    """Remove evidence that no submitted version holds, from a draft or returned visit, by its
    author; the object goes too, once that has committed. Evidence in the record is withdrawn.
    """
    attachment, visit = _own_attachment(user, attachment_id)
    with lifecycle.transition(
        user, visit, Action.REMOVE_EVIDENCE, expected=None, attachment=str(attachment.id)
    ):
        db.session.refresh(attachment)  # a submission may have taken it into the record
        if attachment.in_record:
            raise Conflict(
                "attachment.in_record",
                "A submitted version holds this evidence: withdraw it, with a reason, instead.",
            )
        keys = attachment.stored_keys
        db.session.delete(attachment)
        db.session.flush()
    after_commit(lambda: _delete_all_quietly(keys))


def withdraw_attachment(user: User, attachment_id: uuid.UUID, reason: str) -> Attachment:
    """Take evidence that is in the record out of the next version; earlier ones keep it."""
    attachment, visit = _own_attachment(user, attachment_id)
    if attachment.withdrawn_at is not None:
        return attachment  # a retry
    with lifecycle.transition(
        user, visit, Action.WITHDRAW_EVIDENCE, expected=None, attachment=str(attachment.id)
    ):
        db.session.refresh(attachment)
        if not attachment.in_record:
            raise Conflict(
                "attachment.not_in_record",
                "No submitted version holds this evidence yet: delete it instead.",
            )
        attachment.withdrawn_at = utcnow()
        attachment.withdrawn_by_id = user.id
        attachment.withdrawn_reason = reason
        db.session.flush()
    return attachment


def erase_attachment(user: User, attachment_id: uuid.UUID, reason: str) -> Attachment:
    """Erase evidence from the record altogether (a manager's decision, with the reason).

    The stored bytes are deleted once this commits; the row stays, without its file name, as
    the tombstone that every version listing it points to.
    """
    attachment = get_attachment(user, attachment_id)
    if attachment.erased_at is not None:
        return attachment  # a retry
    visit = db.session.get(Visit, attachment.visit_id)
    if visit is None:
        raise NotFound("attachment.not_found", "No such attachment.")
    with lifecycle.transition(
        user, visit, Action.ERASE_EVIDENCE, expected=None, attachment=str(attachment.id)
    ):
        attachment.erased_at = utcnow()
        attachment.erased_by_id = user.id
        attachment.erased_reason = reason
        attachment.filename = "erased"
        db.session.flush()
    keys = attachment.stored_keys  # its thumbnail goes with it
    after_commit(lambda: _delete_all_quietly(keys))
    return attachment


class Gone(DomainError):
    """The evidence was erased from the record (410)."""

    status = 410
    title = "Gone"


def readable_attachment(user: User, attachment_id: uuid.UUID) -> Attachment:
    """The attachment, if its bytes may be read: 404 out of scope, 410 once erased."""
    attachment = get_attachment(user, attachment_id)
    if attachment.erased_at is not None:
        raise Gone("attachment.erased", "This evidence was erased from the record.")
    return attachment


def remove_visit_evidence(visit: Visit) -> None:
    """Delete a draft visit's attachments: rows now, objects once that has committed."""
    attachments = list(
        db.session.scalars(select(Attachment).where(Attachment.visit_id == visit.id))
    )
    for attachment in attachments:
        db.session.delete(attachment)
    db.session.flush()
    keys = [key for attachment in attachments for key in attachment.stored_keys]
    after_commit(lambda: _delete_all_quietly(keys))


def on_visit_changed(event: VisitEvent) -> None:
    """A draft being deleted takes its evidence with it (rows now, objects after commit)."""
    if event.action is Action.DELETE:
        remove_visit_evidence(event.visit)


def init_app(app: Flask) -> None:
    """Subscribe the evidence to the visit's life; hold Pillow to the pixel limit too, so no
    decode anywhere in the process can be bombed.
    """
    Image.MAX_IMAGE_PIXELS = app.config["MAX_IMAGE_PIXELS"]
    visit_changed.connect(on_visit_changed)
