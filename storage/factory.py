"""Choose and build the evidence store from configuration, once per process."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from storage.base import EvidenceStore


def open_store(url: str, options: Mapping[str, Any]) -> EvidenceStore:
    """``file:///path`` → :class:`LocalStore`; ``s3://bucket/prefix`` → :class:`S3Store`."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        from storage.local import LocalStore

        return LocalStore(Path(parsed.netloc + parsed.path))
    if parsed.scheme == "s3" and parsed.netloc:
        from storage.s3 import S3Store, s3_clients

        client, quick_client = s3_clients(options)
        encryption = options.get("S3_SSE", "AES256")
        return S3Store(
            client,
            parsed.netloc,
            parsed.path,
            encryption=None if encryption == "none" else encryption,
            kms_key_id=options.get("S3_KMS_KEY_ID"),
            part_size=options.get("S3_PART_SIZE_MB", 8) * 1024 * 1024,
            quick_client=quick_client,
            fail_fast_seconds=options.get("S3_FAIL_FAST_SECONDS", 15),
        )
    raise ValueError("EVIDENCE_STORE must be file:///path or s3://bucket/prefix")
