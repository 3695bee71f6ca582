"""``S3Store``: evidence in an S3-compatible service (AWS S3, SeaweedFS, MinIO, Ceph) through boto3.

Every upload and every part of a multipart upload carries a CRC32 checksum, which the store
checks against the bytes it received (a corrupted body is refused with ``BadDigest``); downloads
are checked against it too. How long a hung store can hold a request is bounded: see
:func:`worst_case_seconds`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, BinaryIO, TypeVar

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError
from s3transfer.manager import TransferManager

from storage.base import (
    CHUNK_SIZE,
    EvidenceStore,
    IncompleteUpload,
    StorageError,
    StorageUnavailable,
    StoredObject,
)
from storage.breaker import CircuitBreaker, FailingFast

T = TypeVar("T")
# botocore waits this long for a "100 Continue" before sending a body (PUT, UploadPart).
EXPECT_CONTINUE_SECONDS = 1
# Probes (/readyz) and clean-up after a failure get one try with these timeouts: a hung store
# must not hold them as long as an upload, and what they leave behind `evidence reconcile` finds.
QUICK_CONNECT_SECONDS = 1
QUICK_READ_SECONDS = 1
# botocore's standard mode backs off at most 0.05 s x 2^i between tries of a call that timed
# out (throttling, where the store answers, is another matter); one second per retry bounds it.
BACKOFF_BOUND_SECONDS = 1
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


def worst_case_seconds(connect: int, read: int, attempts: int) -> int:
    """The longest an upload can wait on a store that accepts connections and never answers
    before it fails (and the request answers 503).

    The call that hangs is tried ``attempts`` times in all, each waiting for the connection, a
    "100 Continue" and the read timeout; between tries a short back-off. Then one quick try
    aborts a multipart upload and one quick try deletes what may have been stored. Parts upload
    two at a time, so two parts hanging together cost no more than one.
    """
    per_try = connect + EXPECT_CONTINUE_SECONDS + read
    cleanup = 2 * (QUICK_CONNECT_SECONDS + QUICK_READ_SECONDS)
    return attempts * per_try + (attempts - 1) * BACKOFF_BOUND_SECONDS + cleanup


def s3_clients(options: Mapping[str, Any]) -> tuple[Any, Any]:
    """Two clients on one boto3 session of the store's own (never the process-wide default):
    one for transfers (the configured timeouts and attempts), one for probes and clean-up
    (one short try).

    ``S3_MAX_ATTEMPTS`` counts every try, the first included (botocore's ``total_max_attempts``;
    its ``max_attempts`` counts retries only, one more try than it says).
    """
    keys = {}
    if options.get("S3_ACCESS_KEY_ID"):
        keys = {
            "aws_access_key_id": options["S3_ACCESS_KEY_ID"],
            "aws_secret_access_key": options["S3_SECRET_ACCESS_KEY"],
        }
    session = boto3.session.Session(region_name=options.get("S3_REGION", "eu-west-2"), **keys)

    def client(connect: int, read: int, attempts: int) -> Any:
        return session.client(
            "s3",
            endpoint_url=options.get("S3_ENDPOINT_URL"),
            config=Config(
                s3={"addressing_style": options.get("S3_ADDRESSING_STYLE", "auto")},
                connect_timeout=connect,
                read_timeout=read,
                retries={"total_max_attempts": attempts, "mode": "standard"},
                signature_version="s3v4",
                # Whatever AWS_REQUEST_CHECKSUM_CALCULATION says: checksums on every upload
                # and part, and checked on every download that has one.
                request_checksum_calculation="when_supported",
                response_checksum_validation="when_supported",
            ),
        )

    main = client(
        options.get("S3_CONNECT_TIMEOUT", 3),
        options.get("S3_READ_TIMEOUT", 30),
        options.get("S3_MAX_ATTEMPTS", 2),
    )
    return main, client(QUICK_CONNECT_SECONDS, QUICK_READ_SECONDS, 1)


class _TransferClient:
    """The client s3transfer uploads with, except that aborting a failed multipart upload
    gets one quick try: after a part timed out, the store is likely hung, and an upload left
    incomplete is aborted later by ``evidence reconcile``.
    """

    def __init__(self, client: Any, quick_client: Any) -> None:
        self._client = client
        self._quick_client = quick_client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def abort_multipart_upload(self, **kwargs: Any) -> Any:
        """Abort through the quick client."""
        return self._quick_client.abort_multipart_upload(**kwargs)


class StoreUnreachable(StorageUnavailable):
    """The store timed out or refused the connection (it did not answer at all)."""


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
        raise StoreUnreachable(f"evidence store unreachable: {type(error).__name__}") from None
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
        quick_client: Any = None,
        fail_fast_seconds: float = 0,
    ) -> None:
        self.client = client
        # Per process (each gunicorn worker has its own store): see storage.breaker.
        self.breaker = CircuitBreaker(fail_fast_seconds)
        if fail_fast_seconds:
            # Every HTTP request of the transfer client, retries and queued parts included
            # (not the quick client's: probes always go through, and clean-up is one quick try).
            client.meta.events.register("before-send.s3", self._refuse_if_open)
            # A try that timed out opens it at once: its retry, and every other call, then
            # fail fast instead of each waiting S3_MAX_ATTEMPTS tries on a store that hangs.
            client.meta.events.register("needs-retry.s3", self._note_timeout)
        self.quick_client = quick_client or client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.extra_args: dict[str, str] = {"ChecksumAlgorithm": "CRC32"}
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
        self.transfers = TransferManager(_TransferClient(client, self.quick_client), config)

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _refuse_if_open(self, **_: Any) -> None:
        self.breaker.refuse_if_open()

    def _note_timeout(self, caught_exception: BaseException | None = None, **_: Any) -> None:
        if isinstance(caught_exception, (ConnectionError, HTTPClientError)):
            self.breaker.timed_out()

    def _call(self, call: Callable[[], T], *, probe: bool = False) -> T:
        """Run a boto3 call through the breaker, translating its errors.

        A probe (``check``) always goes through, so that ``/readyz`` sees the store recover;
        its outcome still opens or closes the breaker.
        """
        trial = False if probe else self.breaker.before()
        try:
            result = _translate(call)
        except StoreUnreachable:
            self.breaker.timed_out()
            raise
        except FailingFast:
            if trial:
                self.breaker.abandon()
            raise
        except (StorageError, FileNotFoundError):
            self.breaker.succeeded()  # it answered, whatever it said
            raise
        except BaseException:
            if trial:
                self.breaker.abandon()
            raise
        self.breaker.succeeded()
        return result

    def put(self, key: str, stream: BinaryIO) -> int:
        """Upload in parts above one part size; keys are unique, so none is overwritten."""
        reader = _CountingReader(stream)
        self._call(
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
        body = self._call(lambda: self.client.get_object(**args))["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(CHUNK_SIZE)
            finally:
                body.close()

        return chunks()

    def size(self, key: str) -> int:
        """The object's size from a HEAD request."""
        head = self._call(lambda: self.client.head_object(Bucket=self.bucket, Key=self._key(key)))
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        """Delete the object (S3 treats a missing key as deleted)."""
        self._call(lambda: self.client.delete_object(Bucket=self.bucket, Key=self._key(key)))

    def discard(self, key: str) -> None:
        """Delete with one quick try (clean-up after a failure; see :class:`EvidenceStore`)."""
        self._call(lambda: self.quick_client.delete_object(Bucket=self.bucket, Key=self._key(key)))

    def put_locked(self, key: str, body: bytes, retain_until: datetime) -> None:
        """Put with Object Lock in COMPLIANCE mode until ``retain_until`` (the bucket must have
        Object Lock enabled): not even the account's root user can delete it before then.
        """
        self._call(
            lambda: self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=body,
                ObjectLockMode="COMPLIANCE",
                ObjectLockRetainUntilDate=retain_until,
                **{**self.extra_args, "ChecksumAlgorithm": "SHA256"},
            )
        )

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        """Page through the bucket listing under our prefix."""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call(
            lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)))
        )
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) :]
                yield StoredObject(key, int(item["Size"]), item["LastModified"])

    def incomplete_uploads(self, prefix: str = "") -> Iterator[IncompleteUpload]:
        """Page through the bucket's multipart uploads in progress under our prefix."""
        paginator = self.client.get_paginator("list_multipart_uploads")
        pages = self._call(
            lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)))
        )
        for page in pages:
            for item in page.get("Uploads", []):
                key = item["Key"][len(self.prefix) :]
                yield IncompleteUpload(key, item["UploadId"], item["Initiated"])

    def abort_upload(self, upload: IncompleteUpload) -> None:
        """Abort the multipart upload; its parts are deleted."""
        self._call(
            lambda: self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self._key(upload.key), UploadId=upload.upload_id
            )
        )

    def check(self) -> None:
        """The bucket answers a HEAD request, within one quick try."""
        self._call(lambda: self.quick_client.head_bucket(Bucket=self.bucket), probe=True)

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
