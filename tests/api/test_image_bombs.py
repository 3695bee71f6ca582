"""Issue #13 part 5: a decompression bomb is refused from its header, before any decoding.

An 8,000 x 8,000 PNG of one-bit pixels is a few kilobytes on disk and 64 million pixels (about
200 MB) once decoded. ``MAX_IMAGE_PIXELS`` (50 million by default) refuses it with 413
``attachment.image_too_large``. A PNG whose header declares the size but whose pixel data is junk
shows where the decision is made: decoding it would fail (422); a 413 means only the header
was read.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from service.errors import TooLarge
from service.evidence.thumbnails import make_thumbnail
from tests.api.test_evidence import count, upload, visit_id

__all__ = ["visit_id"]  # the fixture, shared


def png_of(width: int, height: int) -> bytes:
    """A real PNG, all one-bit black pixels: tiny on disk."""
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG")
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def header_only_png(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` grey pixels, then junk pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    junk = b"\x00not-compressed-pixels" * 10
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", junk)
        + _chunk(b"IEND", b"")
    )


def upload_png(worker, visit_id, data):
    return upload(
        worker, visit_id, data, kind="drawing", filename="drawing.png", content_type="image/png"
    )


def test_an_8000_by_8000_png_is_refused_and_nothing_is_kept(app, worker, visit_id):
    bomb = png_of(8000, 8000)
    assert len(bomb) < 100_000
    response = upload_png(worker, visit_id, bomb)
    assert response.status_code == 413, response.get_json()
    problem = response.get_json()
    assert problem["code"] == "attachment.image_too_large"
    assert "50,000,000 pixels" in problem["detail"]
    assert count(app) == 0


@pytest.mark.parametrize("side", [8000, 100_000])
def test_the_header_alone_decides(app, worker, visit_id, side):
    response = upload_png(worker, visit_id, header_only_png(side, side))
    assert response.status_code == 413
    assert response.get_json()["code"] == "attachment.image_too_large"


def test_an_image_within_the_limit_is_decoded(app, worker, visit_id):
    # 7,000 x 7,000 is 49 million pixels: under the limit, so it is decoded, and the junk shows.
    response = upload_png(worker, visit_id, header_only_png(7000, 7000))
    assert response.status_code == 422
    assert response.get_json()["code"] == "attachment.unreadable_image"


def test_the_limit_is_a_setting(app, worker, visit_id):
    app.config["MAX_IMAGE_PIXELS"] = 1_000_000
    try:
        response = upload_png(worker, visit_id, png_of(1001, 1000))
    finally:
        app.config["MAX_IMAGE_PIXELS"] = 50_000_000
    assert response.status_code == 413
    assert upload_png(worker, visit_id, png_of(1001, 1000)).status_code == 201


def test_a_thumbnail_refuses_the_bomb_too():
    with pytest.raises(TooLarge, match="50,000,000 pixels"):
        make_thumbnail(io.BytesIO(png_of(8000, 8000)), "image/png")
    assert Image.MAX_IMAGE_PIXELS == 50_000_000  # no decode in the process can be bombed
