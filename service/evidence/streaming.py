"""Sending a stored file over HTTP: one implementation for the API and the desk pages.

Streams from the evidence store in chunks (never the whole file in memory), honours ``Range``
(audio and video seek), and sends ``nosniff`` and ``no-store``. The API always sends files as
downloads; the desk's audio player asks for ``inline``.
"""

from __future__ import annotations

from typing import Literal

from flask import Response, request
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from service.evidence.models import Attachment
from service.evidence.operations import evidence_store, store_unavailable
from storage import StorageError


def stream_attachment(
    attachment: Attachment, disposition: Literal["attachment", "inline"] = "attachment"
) -> Response:
    """The attachment's stored bytes (or the requested range of them) as a response.

    The caller has checked that the user may read it (``operations.readable_attachment``).
    """
    size = attachment.stored_size
    start, stop, status = 0, size, 200
    if request.range is not None:
        bounds = request.range.range_for_length(size)
        if bounds is None:
            raise RequestedRangeNotSatisfiable(length=size)
        (start, stop), status = bounds, 206
    try:
        body = evidence_store().open(attachment.store_key, start, stop)
    except FileNotFoundError:
        raise store_unavailable(StorageError("object missing")) from None
    except StorageError as error:
        raise store_unavailable(error) from None
    response = Response(
        body, status=status, mimetype=attachment.content_type, direct_passthrough=True
    )
    response.headers["Content-Length"] = str(stop - start)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers.set("Content-Disposition", disposition, filename=attachment.filename)
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    return response
