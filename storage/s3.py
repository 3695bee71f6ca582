"""``S3Store``: evidence in an S3-compatible service (AWS S3, MinIO, Ceph) through boto3."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, BinaryIO, TypeVar

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError
from s3transfer.manager import TransferManager

from storage.base import CHUNK_SIZE, EvidenceStore, StorageError, StorageUnavailable, StoredObject

T = TypeVar("T")
MISSING = {"404", "NoSuchKey", "NotFound"}
TRANSIENT = {"500", "502", "503", "504", "SlowDown", "ServiceUnavailable", "InternalError"}


class _CountingReader:
    """Pass reads through, counting bytes, so ``put`` can report the size it stored."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.count += len(chunk)
        return chunk


def _translate(call: Callable[[], T]) -> T:
    """Run a boto3 call, turning its errors into ours."""
    try:
        return call()
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in MISSING:
            raise FileNotFoundError(code) from None
        if code in TRANSIENT:
            raise StorageUnavailable(f"evidence store answered {code}") from None
        raise StorageError(f"evidence store refused: {code}") from None
    except (ConnectionError, HTTPClientError) as error:
        raise StorageUnavailable(f"evidence store unreachable: {type(error).__name__}") from None
    except BotoCoreError as error:
        raise StorageError(f"evidence store error: {type(error).__name__}") from None


class S3Store(EvidenceStore):
    """Objects in ``bucket`` under ``prefix``, encrypted at rest by the service by default."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        encryption: str | None = "AES256",
        kms_key_id: str | None = None,
        part_size: int = 8 * 1024 * 1024,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.extra_args: dict[str, str] = {}
        if encryption:
            self.extra_args["ServerSideEncryption"] = encryption
            if kms_key_id:
                self.extra_args["SSEKMSKeyId"] = kms_key_id
        # Two parts uploading and three buffered at most: memory stays flat whatever the size.
        config = TransferConfig(
            multipart_threshold=part_size,
            multipart_chunksize=part_size,
            max_concurrency=2,
            max_io_queue=4,
        )
        # s3transfer buffers up to 10 parts of a non-seekable stream by default (80 MiB here).
        config.max_in_memory_upload_chunks = 3
        # One manager (and so one set of threads) per process: boto3's upload_fileobj starts new
        # threads per call, and each new thread's allocator arena keeps its freed part buffers.
        self.transfers = TransferManager(client, config)

    def _key(self, key: str) -> str:
        return self.prefix + key

    def put(self, key: str, stream: BinaryIO) -> int:
        """Upload in parts above one part size; keys are unique, so none is overwritten."""
        reader = _CountingReader(stream)
        _translate(
            lambda: self.transfers.upload(
                reader, self.bucket, self._key(key), extra_args=self.extra_args
            ).result()
        )
        return reader.count

    def open(self, key: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """Fetch the object (or a byte range of it) and stream its body in chunks."""
        args = {"Bucket": self.bucket, "Key": self._key(key)}
        if start or stop is not None:
            args["Range"] = f"bytes={start}-{'' if stop is None else stop - 1}"
        body = _translate(lambda: self.client.get_object(**args))["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(CHUNK_SIZE)
            finally:
                body.close()

        return chunks()

    def size(self, key: str) -> int:
        """The object's size from a HEAD request."""
        head = _translate(lambda: self.client.head_object(Bucket=self.bucket, Key=self._key(key)))
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        """Delete the object (S3 treats a missing key as deleted)."""
        _translate(lambda: self.client.delete_object(Bucket=self.bucket, Key=self._key(key)))

    def put_locked(self, key: str, body: bytes, retain_until: datetime) -> None:
        """Put with Object Lock in COMPLIANCE mode until ``retain_until`` (the bucket must have
        Object Lock enabled): not even the account's root user can delete it before then.
        """
        _translate(
            lambda: self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=body,
                ObjectLockMode="COMPLIANCE",
                ObjectLockRetainUntilDate=retain_until,
                ChecksumAlgorithm="SHA256",
                **self.extra_args,
            )
        )

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        """Page through the bucket listing under our prefix."""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = _translate(
            lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)))
        )
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) :]
                yield StoredObject(key, int(item["Size"]), item["LastModified"])

    def check(self) -> None:
        """The bucket answers a HEAD request."""
        _translate(lambda: self.client.head_bucket(Bucket=self.bucket))

    def presigned_url(self, key: str, filename: str, content_type: str, expires: int) -> str | None:
        """A GET URL valid for ``expires`` seconds that downloads as an attachment."""
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self._key(key),
                    "ResponseContentDisposition": f'attachment; filename="{filename}"',
                    "ResponseContentType": content_type,
                },
                ExpiresIn=expires,
            )
        )
