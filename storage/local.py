"""``LocalStore``: evidence in a folder, for the embedded default and for development."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from storage.base import CHUNK_SIZE, EvidenceStore, StorageError, StorageFull, StoredObject

FULL = {errno.ENOSPC, errno.EDQUOT}

SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class LocalStore(EvidenceStore):
    """Objects as files under ``root``; keys are checked so none can escape it."""

    def __init__(self, root: Path) -> None:
        """Use the folder ``root``, made if missing; :class:`StorageError` if it cannot be (a
        file there, or in the way of it, or no permission), saying which folder and why.
        """
        self.root = root.resolve()
        self._partial = self.root / ".partial"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._partial.mkdir(exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StorageError(f"{self.root} is a file, not a folder (or is inside one)") from None
        except OSError as error:
            raise StorageError(f"cannot make the folder {self.root}: {error.strerror}") from None

    def _path(self, key: str) -> Path:
        if not SAFE_KEY.match(key) or ".." in key.split("/"):
            raise StorageError(f"unsafe key {key!r}")
        return self.root / key

    def put(self, key: str, stream: BinaryIO) -> int:
        """Write to a temporary file, then link it into place (refusing to overwrite)."""
        path = self._path(key)
        size = 0
        fd, partial = tempfile.mkstemp(dir=self._partial)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK_SIZE):
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            for attempt in range(3):
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(partial, path)
                    break
                except FileNotFoundError:  # a delete removed the emptied folder meanwhile
                    if attempt == 2:
                        raise
        except FileExistsError:
            raise StorageError(f"refusing to overwrite {key!r}") from None
        except OSError as error:
            if error.errno in FULL:
                raise StorageFull(f"cannot write {key!r}: {error.strerror}") from None
            raise StorageError(f"cannot write {key!r}: {error.strerror}") from None
        finally:
            Path(partial).unlink(missing_ok=True)  # a full disk gets its space back at once
        return size

    def open(self, key: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """Read the file in chunks (``FileNotFoundError`` if missing)."""
        handle = self._path(key).open("rb")

        def chunks() -> Iterator[bytes]:
            with handle:
                handle.seek(start)
                remaining = None if stop is None else stop - start
                while remaining is None or remaining > 0:
                    want = CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
                    chunk = handle.read(want)
                    if not chunk:
                        return
                    if remaining is not None:
                        remaining -= len(chunk)
                    yield chunk

        return chunks()

    def size(self, key: str) -> int:
        """The file's size."""
        return self._path(key).stat().st_size

    def delete(self, key: str) -> None:
        """Remove the file if it is there, and the folders it leaves empty (not the root)."""
        path = self._path(key)
        path.unlink(missing_ok=True)
        for folder in path.parents:
            if folder == self.root or self.root not in folder.parents:
                break
            try:
                folder.rmdir()  # only if empty; a concurrent put recreates it (mkdir parents)
            except OSError:
                break

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        """Walk the folder (skipping unfinished writes)."""
        for path in sorted(self.root.rglob("*")):
            if not path.is_file() or self._partial in path.parents:
                continue
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                stat = path.stat()
                yield StoredObject(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def check(self) -> None:
        """The folder exists and is writable."""
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"{self.root} is not writable")
