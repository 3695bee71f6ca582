"""Evidence for the desk pages: thumbnails, playable audio and video, downloads.

Each answers only through ``operations.readable_attachment`` (404 out of scope, 410 once
erased), is recorded in the audit trail as a read, and is never cached by the browser.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, g

from service.audit.events import Action, Subject
from service.audit.reads import audited, describe
from service.errors import NotFound
from service.evidence import operations
from service.evidence.models import Attachment
from service.evidence.streaming import stream_attachment
from service.evidence.thumbnails import thumbnail_of
from service.extensions import db
from service.pages import PageBlueprint

blp = PageBlueprint("evidence_pages", __name__)

READERS = ("supervisor", "manager")
PLAYABLE = ("audio", "video")


def _read(result: Any, attachment_id: uuid.UUID, **view_args: Any) -> list[Subject]:
    attachment = db.session.get(Attachment, attachment_id)
    return describe(attachment) if attachment else []


@blp.get("/attachments/<uuid:attachment_id>/thumbnail")
@blp.signin_required(*READERS)
@audited(Action.READ, subjects=_read)
def thumbnail(attachment_id: uuid.UUID) -> Response:
    """A small copy of a photo or drawing, made on the server without any metadata."""
    attachment = operations.readable_attachment(g.user, attachment_id)
    made = thumbnail_of(attachment)
    response = Response(made.body, mimetype=made.content_type)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.set("Content-Disposition", "inline", filename=f"thumbnail-{attachment.id}")
    return response


@blp.get("/attachments/<uuid:attachment_id>/play")
@blp.signin_required(*READERS)
@audited(Action.READ, subjects=_read)
def play(attachment_id: uuid.UUID) -> Response:
    """An audio or video file, streamed inline for the page's player (byte ranges for seeking)."""
    attachment = operations.readable_attachment(g.user, attachment_id)
    if attachment.kind not in PLAYABLE:
        raise NotFound("attachment.not_playable", "Only audio and video can be played.")
    return stream_attachment(attachment, "inline")


@blp.get("/attachments/<uuid:attachment_id>/download")
@blp.signin_required(*READERS)
@audited(Action.READ, subjects=_read)
def download(attachment_id: uuid.UUID) -> Response:
    """The file itself, as a download."""
    return stream_attachment(operations.readable_attachment(g.user, attachment_id))
