"""Thumbnails of photos and drawings, made on the server from the stored evidence.

A thumbnail is decoded from the evidence store through its interface, turned upright
(``exif_transpose``), shrunk to at most ``THUMBNAIL_EDGE`` pixels on its longest edge and
re-encoded from bare pixels: no EXIF, GPS, XMP, ICC profile or text chunk survives, whatever the
original held. An image with more pixels than the upload limit allows is refused from its header,
before any decoding.

It is cached in the evidence store itself, under ``thumbnails/<attachment id>-<edge>.<ext>``
(``Attachment.thumbnail_key``), not in a folder of the app: the app runs as several stateless
instances, and the store is where evidence already has its encryption at rest, its access
controls and its deletion paths. Erasing or deleting the attachment deletes its thumbnail
(``Attachment.stored_keys``), retention purge deletes it with the case's objects, and
``evidence reconcile`` removes any thumbnail whose attachment is gone or erased.

Whoever calls :func:`thumbnail_of` must have checked the reader's scope first
(``operations.readable_attachment``).
"""

from __future__ import annotations

import io
import logging
import tempfile
import warnings
from dataclasses import dataclass
from typing import BinaryIO

from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError

from service.config import MAX_IMAGE_PIXELS
from service.errors import NotFound, ValidationFailed
from service.evidence.content import IMAGES, refuse_too_many_pixels, too_many_pixels
from service.evidence.models import THUMBNAIL_EDGE, Attachment
from service.evidence.operations import evidence_store, store_unavailable
from storage import StorageError

log = logging.getLogger(__name__)

# Modes each format can hold as they are; anything else is converted first.
KEPT_MODES = {"JPEG": ("RGB", "L"), "PNG": ("RGB", "RGBA", "L", "LA")}


@dataclass(frozen=True)
class Thumbnail:
    """A thumbnail's bytes and their content type."""

    body: bytes
    content_type: str


def make_thumbnail(
    source: BinaryIO,
    content_type: str,
    edge: int = THUMBNAIL_EDGE,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> bytes:
    """Decode ``source`` (a JPEG or PNG) and return an upright thumbnail of it, re-encoded in
    the same format without any metadata. Refuses a decompression bomb before decoding it.
    """
    image_format = IMAGES[content_type]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=[image_format]) as image:
                refuse_too_many_pixels(image, max_pixels)
                # A JPEG decodes straight at 1/2, 1/4 or 1/8 scale: far less memory and time.
                image.draft(None, (edge, edge))
                upright = ImageOps.exif_transpose(image)
        small = _fit_mode(upright, image_format)
        small.thumbnail((edge, edge), Image.Resampling.LANCZOS, reducing_gap=2.0)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_many_pixels(max_pixels) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ValidationFailed(
            "attachment.unreadable_image", "The image could not be read; it may be damaged."
        ) from None
    # Bare pixels in a new image: nothing of the original's info (EXIF, ICC, XMP, text) is
    # carried along, whatever Pillow would otherwise copy through.
    bare = Image.frombytes(small.mode, small.size, small.tobytes())
    out = io.BytesIO()
    if image_format == "JPEG":
        bare.save(out, "JPEG", quality=85)
    else:
        bare.save(out, "PNG", optimize=True)
    return out.getvalue()


def _fit_mode(image: Image.Image, image_format: str) -> Image.Image:
    if image.mode in KEPT_MODES[image_format]:
        return image
    transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if image_format == "PNG" and transparent:
        return image.convert("RGBA")
    return image.convert("RGB")


def thumbnail_of(attachment: Attachment) -> Thumbnail:
    """The thumbnail of a photo or drawing: from the cache, or made now and cached.

    404 for other evidence; 503 when the store cannot be read.
    """
    key = attachment.thumbnail_key
    if key is None:
        raise NotFound("attachment.no_thumbnail", "Only photos and drawings have thumbnails.")
    store = evidence_store()
    try:
        return Thumbnail(b"".join(store.open(key)), attachment.content_type)
    except FileNotFoundError:
        pass
    except StorageError as error:
        raise store_unavailable(error) from None
    body = _made_from_store(attachment)
    try:
        store.put(key, io.BytesIO(body))
    except StorageError as error:
        # Another request cached it first, or the store refused: this one is still good.
        log.info("thumbnail %s not cached: %s", key, error)
    return Thumbnail(body, attachment.content_type)


def _made_from_store(attachment: Attachment) -> bytes:
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as original:
        try:
            for chunk in evidence_store().open(attachment.store_key):
                original.write(chunk)
        except FileNotFoundError:
            raise store_unavailable(StorageError("object missing")) from None
        except StorageError as error:
            raise store_unavailable(error) from None
        original.seek(0)
        return make_thumbnail(
            original,  # type: ignore[arg-type]
            attachment.content_type,
            max_pixels=current_app.config["MAX_IMAGE_PIXELS"],
        )
