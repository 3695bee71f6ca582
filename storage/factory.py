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
        import boto3
        from botocore.config import Config

        from storage.s3 import S3Store

        client = boto3.client(
            "s3",
            endpoint_url=options.get("S3_ENDPOINT_URL"),
            region_name=options.get("S3_REGION", "eu-west-2"),
            config=Config(
                s3={"addressing_style": options.get("S3_ADDRESSING_STYLE", "auto")},
                connect_timeout=options.get("S3_CONNECT_TIMEOUT", 3),
                read_timeout=options.get("S3_READ_TIMEOUT", 30),
                retries={"max_attempts": options.get("S3_MAX_ATTEMPTS", 2), "mode": "standard"},
                signature_version="s3v4",
            ),
        )
        encryption = options.get("S3_SSE", "AES256")
        return S3Store(
            client,
            parsed.netloc,
            parsed.path,
            encryption=None if encryption == "none" else encryption,
            kms_key_id=options.get("S3_KMS_KEY_ID"),
            part_size=options.get("S3_PART_SIZE_MB", 8) * 1024 * 1024,
        )
    raise ValueError("EVIDENCE_STORE must be file:///path or s3://bucket/prefix")
