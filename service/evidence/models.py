"""Attachments: one stored evidence object, its checked type, digest and who uploaded it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.columns import UTCDateTime, utcnow
from service.extensions import Base

KINDS = ("photo", "drawing", "audio", "video", "document")
PICTURE_KINDS = ("photo", "drawing")
# The longest edge of a thumbnail, in pixels; part of its key, so a new size is a new object.
THUMBNAIL_EDGE = 320
# A photo's thumbnail is a JPEG, a drawing's keeps its PNG (and its transparency).
THUMBNAIL_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


def thumbnail_key(attachment_id: uuid.UUID, kind: str, content_type: str) -> str | None:
    """Where the thumbnail of a photo or drawing is cached in the evidence store; None for
    other evidence. Outside ``visits/``, so ``evidence reconcile`` tells the two apart.
    """
    extension = THUMBNAIL_EXTENSIONS.get(content_type)
    if kind not in PICTURE_KINDS or extension is None:
        return None
    return f"thumbnails/{attachment_id}-{THUMBNAIL_EDGE}.{extension}"


class Attachment(Base):
    """A file attached to a visit (optionally to one child on it), by the client's UUID."""

    __tablename__ = "attachments"
    __table_args__ = (CheckConstraint(f"kind IN {KINDS!r}", name="kind"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"), index=True)
    child_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("children.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    # What the client sent: the digest and size it can check against.
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    # What is stored: differs from the upload when photo metadata was removed.
    stored_size: Mapped[int] = mapped_column(BigInteger)
    store_key: Mapped[str] = mapped_column(String(300), unique=True)
    # The digest of the bytes as stored (after metadata removal): what a version lists.
    stored_sha256: Mapped[str | None] = mapped_column(String(64))
    metadata_removed: Mapped[bool] = mapped_column(default=False)
    uploaded_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The first submitted version that held it: from then on it is part of the record and its
    # author can only withdraw it (it leaves the next version), never delete it.
    first_version: Mapped[int | None]
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
    # Erased by a manager (a photo of the wrong family): the bytes are gone, this row stays as
    # the tombstone that the versions listing it point to.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    erased_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    erased_reason: Mapped[str | None] = mapped_column(Text)

    @property
    def thumbnail_key(self) -> str | None:
        """Where its thumbnail is cached, if it is a picture (see :func:`thumbnail_key`)."""
        return thumbnail_key(self.id, self.kind, self.content_type)

    @property
    def stored_keys(self) -> list[str]:
        """Every object kept for it: the file, and a picture's cached thumbnail."""
        return [self.store_key] + ([self.thumbnail_key] if self.thumbnail_key else [])

    @property
    def in_record(self) -> bool:
        """Whether a submitted version holds it."""
        return self.first_version is not None
