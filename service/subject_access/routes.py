"""Subject access endpoint: a child's whole record as a streamed zip."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, g

from service.api import Blueprint, retry_after_headers
from service.audit.events import Action, Subject
from service.audit.reads import audited
from service.subject_access import archive, operations

blp = Blueprint(
    "subject_access", __name__, description="Subject access: a child's whole record as a zip."
)


def _exported(result: Any, child_id: uuid.UUID, **view_args: Any) -> list[Subject]:
    return operations.export_subjects(child_id)


@blp.get("/children/<uuid:child_id>/export")
@blp.login_required(*operations.EXPORTERS)
@blp.alt_response(
    200,
    schema={"type": "string", "format": "binary"},
    content_type="application/zip",
    success=True,
    description="The zip, streamed; its last file is manifest.json",
)
@blp.alt_response(404, description="No such child, or not in your scope")
@blp.alt_response(
    503,
    description="The evidence store could not be asked for the files",
    headers=retry_after_headers(),
)
@audited(Action.EXPORT, subjects=_exported, via="api")
def export_child(child_id: uuid.UUID) -> Response:
    """The child's whole record for a subject access request, as a zip streamed as it is made.

    Holds ``README.txt``, ``child.json``, every submitted version of every visit that includes
    the child (``visits/<id>/v<N>.json``; drafts as ``draft.json``), ``reviews.json``,
    ``evidence.json`` and the evidence files, ``record.html``, ``redaction-sheet.csv`` (every
    item of third-party information, for review before release) and, last, ``manifest.json``
    with the size and SHA-256 of every other file. Other children's entries on shared visits are
    withheld. The export is audited before the first byte is sent. Each evidence file is looked
    up in the store first: one the store does not have is listed in ``evidence.json`` as
    ``missing`` (with its recorded size and SHA-256) and has no file in the zip; the store
    failing otherwise at that point is a 503. If the evidence store fails while the zip streams,
    the stream stops without the manifest (the response is already 200): a zip without
    ``manifest.json``, or one that does not match it, is incomplete.
    """
    request_id = g.get("request_id")
    export = operations.prepare_export(g.user, child_id, request_id)
    response = Response(
        archive.stream(export, request_id=request_id),
        mimetype="application/zip",
        direct_passthrough=True,
    )
    response.headers.set("Content-Disposition", "attachment", filename=export.filename)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
