"""What may be uploaded: types sniffed from the bytes, safe names, and photos without metadata."""

from __future__ import annotations

import hashlib
import mimetypes
import tempfile
import warnings
from typing import BinaryIO

import filetype
from PIL import Image, ImageOps, UnidentifiedImageError
from werkzeug.utils import secure_filename

from service.config import MAX_IMAGE_PIXELS
from service.errors import DomainError, TooLarge, ValidationFailed

SNIFF_BYTES = 8192

IMAGES = {"image/jpeg": "JPEG", "image/png": "PNG"}
ALLOWED_TYPES = {
    "photo": set(IMAGES),
    "drawing": set(IMAGES),
    # Voice memos are MP4 containers; some recorders label the container video/mp4.
    "audio": {"audio/aac", "audio/mp4", "video/mp4", "audio/mpeg", "audio/x-wav", "audio/ogg"},
    "video": {"video/mp4"},
    "document": {"application/pdf"},
}
# Names clients (and filename extensions) use for one and the same format.
ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/wav": "audio/x-wav",
    "audio/vnd.wave": "audio/x-wav",
    "audio/mp3": "audio/mpeg",
    "audio/m4a": "mp4",
    "audio/x-m4a": "mp4",
    "audio/mp4": "mp4",
    "video/mp4": "mp4",
    "audio/aacp": "audio/aac",
}
GENERIC_TYPES = {"", "application/octet-stream", "multipart/form-data"}


class UnsupportedMediaType(DomainError):
    """The bytes are not a type allowed for this kind of evidence (415)."""

    status = 415
    title = "Unsupported media type"


def _normal(content_type: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    return ALIASES.get(base, base)


def sniff(head: bytes) -> str | None:
    """The content type the first bytes say, or None when they match nothing we know."""
    guess = filetype.guess(head)
    return guess.mime if guess else None


def check_type(kind: str, head: bytes, declared_type: str, filename: str) -> str:
    """Return the sniffed type if it is allowed for ``kind`` and agrees with the client's labels."""
    sniffed = sniff(head)
    if sniffed is None or sniffed not in ALLOWED_TYPES[kind]:
        allowed = ", ".join(sorted(ALLOWED_TYPES[kind]))
        raise UnsupportedMediaType(
            "attachment.type_not_allowed",
            f"The content is {sniffed or 'not a recognised type'}; a {kind} must be {allowed}.",
        )
    declared = _normal(declared_type)
    if declared not in GENERIC_TYPES and declared != _normal(sniffed):
        raise UnsupportedMediaType(
            "attachment.type_mismatch",
            f"The file was labelled {declared} but its content is {sniffed}.",
        )
    by_extension, _ = mimetypes.guess_type(filename)
    if by_extension and _normal(by_extension) != _normal(sniffed):
        raise UnsupportedMediaType(
            "attachment.extension_mismatch",
            f"The file name says {by_extension} but its content is {sniffed}.",
        )
    if kind == "audio" and _normal(sniffed) == "mp4":
        # A recording in an MP4 container (a browser's MediaRecorder writes one whose brand
        # says video) is kept and played as what it is: audio.
        return "audio/mp4"
    return sniffed


WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {
    f"{p}{n}" for p in ("COM", "LPT") for n in range(1, 10)
}


def safe_filename(raw: str | None, content_type: str) -> str:
    """A filename with no path, control characters or reserved device names; never empty.

    Built on werkzeug's ``secure_filename``; a name that was only an extension becomes
    ``attachment.<ext>``, and Windows device names (``CON.jpg``) get a leading underscore on
    every platform, since files are downloaded to Windows desktops.
    """
    base = (
        "".join(ch for ch in (raw or "") if ch.isprintable()).replace("\\", "/").rsplit("/", 1)[-1]
    )
    name = secure_filename(base)
    stem, dot, ext = name.rpartition(".")
    if len(name) > 200:
        name = f"{stem[: 199 - len(ext)]}.{ext}" if dot and len(ext) <= 10 else name[:200]
    extension = mimetypes.guess_extension(content_type) or ""
    only_extension = base.strip().startswith(".") and "." not in name
    if not name or (only_extension and base.strip().lstrip(".") == name):
        return f"attachment{extension}"
    if name.split(".", 1)[0].upper() in WINDOWS_DEVICES:
        name = f"_{name}"
    return name


class HashingReader:
    """Wrap a request stream: hash and count what passes, refuse more than ``limit`` bytes.

    ``read(n)`` returns exactly ``n`` bytes unless the stream ends, because multipart uploads
    need full-size parts.
    """

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.digest = hashlib.sha256()
        self.size = 0
        self._buffer = b""

    def peek(self, size: int) -> bytes:
        """Return up to ``size`` leading bytes without consuming them."""
        while len(self._buffer) < size:
            chunk = self.stream.read(size - len(self._buffer))
            if not chunk:
                break
            self._buffer += chunk
        return self._buffer[:size]

    def read(self, size: int = -1) -> bytes:
        """Read ``size`` bytes (all, if negative), hashing and counting them."""
        parts = [self._buffer]
        have = len(self._buffer)
        self._buffer = b""
        while size < 0 or have < size:
            chunk = self.stream.read(1024 * 1024 if size < 0 else min(size - have, 1024 * 1024))
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
            if self.size + have > self.limit:
                raise TooLarge(
                    "attachment.too_large", f"The file is over the {self.limit // 2**20} MiB limit."
                )
        data = b"".join(parts)
        self.size += len(data)
        self.digest.update(data)
        return data

    def drain(self) -> None:
        """Read (and hash) whatever is left."""
        while self.read(1024 * 1024):
            pass

    @property
    def sha256(self) -> str:
        """The hex digest of everything read so far."""
        return self.digest.hexdigest()


def refuse_too_many_pixels(image: Image.Image, max_pixels: int) -> None:
    """Refuse (413) an image whose header declares more than ``max_pixels`` pixels.

    ``Image.open`` has read only the header: a small file can declare a bitmap of gigabytes
    (8,000 x 8,000 one-bit pixels is a few kilobytes of PNG), so this comes before any decoding.
    """
    if image.width * image.height > max_pixels:
        raise too_many_pixels(max_pixels)


def too_many_pixels(max_pixels: int) -> TooLarge:
    """The refusal of an image over the pixel limit (Pillow's own check at open says the same)."""
    return TooLarge(
        "attachment.image_too_large",
        f"The image has more than {max_pixels:,} pixels (width x height); send a smaller one.",
    )


def strip_image_metadata(
    source: BinaryIO, content_type: str, max_pixels: int = MAX_IMAGE_PIXELS
) -> BinaryIO:
    """Re-encode an image without EXIF, GPS, XMP or text chunks, keeping its orientation.

    An image of more than ``max_pixels`` is refused from its header, before it is decoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=[IMAGES[content_type]]) as image:
                refuse_too_many_pixels(image, max_pixels)
                image.load()
                upright = ImageOps.exif_transpose(image)
                icc_profile = image.info.get("icc_profile")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_many_pixels(max_pixels) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ValidationFailed(
            "attachment.unreadable_image", "The image could not be read; it may be damaged."
        ) from None
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - returned open
    options: dict[str, object] = {"icc_profile": icc_profile} if icc_profile else {}
    if IMAGES[content_type] == "JPEG":
        if upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
        options.update(quality=92)
    upright.save(out, IMAGES[content_type], **options)
    out.seek(0)
    return out  # type: ignore[return-value]
