"""Evidence stores: where photos, drawings, audio and documents are kept.

``EvidenceStore`` is the interface; ``LocalStore`` keeps files in a folder (the embedded default)
and ``S3Store`` in any S3-compatible service. :func:`open_store` picks one from configuration.
"""

from storage.base import (
    EvidenceStore,
    IncompleteUpload,
    StorageError,
    StorageFull,
    StorageUnavailable,
    StoredObject,
)
from storage.factory import open_store

__all__ = [
    "EvidenceStore",
    "IncompleteUpload",
    "StorageError",
    "StorageFull",
    "StorageUnavailable",
    "StoredObject",
    "open_store",
]
