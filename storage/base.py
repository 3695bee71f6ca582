"""The evidence store interface and its errors."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

CHUNK_SIZE = 1024 * 1024


class StorageError(Exception):
    """The store refused or failed an operation (a missing object is FileNotFoundError)."""


class StorageUnavailable(StorageError):
    """The store cannot be reached or timed out; the operation may succeed later."""


class StorageFull(StorageError):
    """The store has no room left (a full disk, a quota); writes fail until space is freed."""


@dataclass(frozen=True)
class StoredObject:
    """An object as listed by the store."""

    key: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class IncompleteUpload:
    """A multipart upload begun and never completed or aborted (its parts take space, unseen)."""

    key: str
    upload_id: str
    initiated: datetime


class EvidenceStore(abc.ABC):
    """Put, read back, measure and delete evidence objects by key."""

    @abc.abstractmethod
    def put(self, key: str, stream: BinaryIO) -> int:
        """Store everything ``stream.read()`` gives under a new ``key``; return the byte count.

        Never overwrites; reads in chunks, so a file is never held in memory whole.
        """

    @abc.abstractmethod
    def open(self, key: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """Yield the bytes of ``key`` from ``start`` up to ``stop`` (exclusive), in chunks."""

    @abc.abstractmethod
    def size(self, key: str) -> int:
        """The object's size in bytes; ``FileNotFoundError`` if it does not exist."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing key is not an error."""

    def discard(self, key: str) -> None:
        """Delete ``key`` as clean-up after a failed upload: one quick try, since the store may
        be the thing that failed. What it leaves, ``evidence reconcile`` removes later.
        """
        self.delete(key)

    @abc.abstractmethod
    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every object whose key starts with ``prefix``."""

    def incomplete_uploads(self, prefix: str = "") -> Iterator[IncompleteUpload]:
        """Uploads under ``prefix`` begun and never finished (a worker killed mid-upload, an
        abort that failed); only stores with multipart uploads have any.
        """
        return iter(())

    def abort_upload(self, upload: IncompleteUpload) -> None:
        """Abort an incomplete upload, freeing its parts."""
        raise StorageError(f"{type(self).__name__} has no incomplete uploads")

    @abc.abstractmethod
    def check(self) -> None:
        """Raise :class:`StorageError` unless the store is reachable and usable."""

    def put_locked(self, key: str, body: bytes, retain_until: datetime) -> None:
        """Store a small object nobody may delete or overwrite before ``retain_until``.

        Only stores with write-once retention (S3 Object Lock) can; others raise.
        """
        raise StorageError(f"{type(self).__name__} cannot lock objects against deletion")

    def presigned_url(self, key: str, filename: str, content_type: str, expires: int) -> str | None:
        """A short-lived URL the client can fetch ``key`` from directly, where supported."""
        return None
