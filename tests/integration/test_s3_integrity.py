"""Integrity and authentication against a real store (SeaweedFS), the things a mock would accept.

Every upload and every part carries a CRC32 checksum that the store checks; a body corrupted on
the way is refused and nothing is kept. Server-side encryption is really on: the plaintext is
not on the store's disk. A presigned URL changed in any way is refused. A wrong secret key makes
the store unavailable (readiness 503, an upload 503), never a 500. ``S3_MAX_ATTEMPTS`` counts
every try.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from service.evidence.models import Attachment
from service.extensions import db
from storage import StorageError, StorageUnavailable, open_store
from tests.evidence_files import PDF
from tests.factories import new_id, standalone_app

MIB = 1024 * 1024
MARKER = b"<evidence-bytes-marker>"
FLIPPED = b"<evidence-bytes-markeR>"


def store_on(server, bucket=None, **options):
    bucket = bucket or f"integrity-{uuid.uuid4().hex[:10]}"
    server.create_bucket(bucket)
    return open_store(
        f"s3://{bucket}/council", {**server.settings(), "S3_PART_SIZE_MB": 5, **options}
    )


def marked_bytes(size):
    """Random bytes with the marker every 32 KiB, so a proxy sees whole markers in its reads."""
    block = os.urandom(32 * 1024 - len(MARKER)) + MARKER
    return (block * (size // len(block) + 1))[:size]


class CorruptingProxy:
    """A TCP proxy in front of the store that flips one letter of every marker it forwards
    towards the store: bytes damaged on the way, after the client computed its checksum.
    """

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.flipped = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(
                target=self._pump, args=(downstream, upstream, True), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(upstream, downstream, False), daemon=True
            ).start()

    def _pump(self, source, target, corrupt):
        try:
            while chunk := source.recv(65536):
                if corrupt and MARKER in chunk:
                    self.flipped += chunk.count(MARKER)
                    chunk = chunk.replace(MARKER, FLIPPED)
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def close(self):
        self.listener.close()


@pytest.fixture
def proxy(s3_server):
    running = CorruptingProxy(s3_server.port)
    yield running
    running.close()


def test_every_upload_and_part_carries_a_checksum_the_store_kept(s3_server):
    store = store_on(s3_server)
    client = s3_server.client()
    for name, size in (("small", 100_000), ("multipart", 12 * MIB)):
        store.put(f"visits/v/{name}", io.BytesIO(os.urandom(size)))
        head = client.head_object(
            Bucket=store.bucket, Key=f"council/visits/v/{name}", ChecksumMode="ENABLED"
        )
        assert head["ChecksumCRC32"], head
    parts = client.get_object_attributes(
        Bucket=store.bucket, Key="council/visits/v/multipart", ObjectAttributes=["ObjectParts"]
    )
    assert parts["ObjectParts"]["TotalPartsCount"] == 3


@pytest.mark.parametrize("size", [200_000, 12 * MIB], ids=["single-put", "multipart"])
def test_bytes_corrupted_on_the_way_are_refused_and_nothing_is_kept(s3_server, proxy, size):
    store = store_on(s3_server)
    through_proxy = open_store(
        f"s3://{store.bucket}/council",
        {
            **s3_server.settings(),
            "S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
            "S3_PART_SIZE_MB": 5,
            "S3_MAX_ATTEMPTS": 1,
        },
    )
    with pytest.raises(StorageError) as refused:
        through_proxy.put("visits/v/damaged", io.BytesIO(marked_bytes(size)))
    assert proxy.flipped
    assert "BadDigest" in str(refused.value)
    assert not list(store.list())
    client = s3_server.client()
    assert not client.list_multipart_uploads(Bucket=store.bucket).get("Uploads")


def test_the_store_checks_the_checksum_it_is_sent(s3_server):
    store = store_on(s3_server)
    client = s3_server.client()
    with pytest.raises(client.exceptions.ClientError) as refused:
        client.put_object(
            Bucket=store.bucket, Key="council/x", Body=b"evidence", ChecksumCRC32="AAAAAA=="
        )
    assert refused.value.response["Error"]["Code"] == "BadDigest"


def test_server_side_encryption_is_really_on(s3_server):
    store = store_on(s3_server)
    secret = os.urandom(100_000) + MARKER + os.urandom(100_000)
    store.put("visits/v/encrypted", io.BytesIO(secret))
    plain = open_store(f"s3://{store.bucket}/plain", {**s3_server.settings(), "S3_SSE": "none"})
    plain.put("visits/v/clear", io.BytesIO(secret.replace(MARKER, FLIPPED)))
    head = s3_server.client().head_object(Bucket=store.bucket, Key="council/visits/v/encrypted")
    assert head["ServerSideEncryption"] == "AES256"
    assert b"".join(store.open("visits/v/encrypted")) == secret

    def on_disk(needle):
        found = subprocess.run(  # noqa: S603 - grep over the server's own folder
            ["grep", "-rlaF", needle.decode(), str(s3_server.workdir / "data")],  # noqa: S607
            capture_output=True,
            check=False,
        )
        return bool(found.stdout)

    assert on_disk(FLIPPED)  # the unencrypted object's bytes are on disk as sent...
    assert not on_disk(MARKER)  # ...the encrypted object's are not


def test_a_tampered_presigned_url_is_refused(s3_server):
    store = store_on(s3_server)
    store.put("visits/v/doc", io.BytesIO(b"%PDF-1.4 one family's letter"))
    store.put("visits/v/other", io.BytesIO(b"%PDF-1.4 another family's letter"))
    url = store.presigned_url("visits/v/doc", "letter.pdf", "application/pdf", 60)
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        assert response.read() == b"%PDF-1.4 one family's letter"
    tampered = [
        url.replace("visits/v/doc", "visits/v/other"),
        url.replace("X-Amz-Expires=60", "X-Amz-Expires=3600"),
        url.replace("letter.pdf", "other.pdf"),
        url[:-4] + ("0000" if not url.endswith("0000") else "1111"),
    ]
    for changed in tampered:
        assert changed != url
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(changed, timeout=5)  # noqa: S310 - loopback
        refused.value.close()
        assert refused.value.code == 403, changed


def test_a_wrong_secret_key_is_unavailable_not_a_500(s3_server, tmp_path):
    s3_server.create_bucket("wrong-key-evidence")
    app, client, headers, body = standalone_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'wrong.db'}",
            "EVIDENCE_STORE": "s3://wrong-key-evidence/council",
            **s3_server.settings(),
            "S3_SECRET_ACCESS_KEY": s3_server.secret_key + "x",
        }
    )
    try:
        visit_id = new_id()
        assert (
            client.put(f"/api/v1/visits/{visit_id}", json=body, headers=headers).status_code == 201
        )
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.get_json()["checks"]["evidence_store"] == "unavailable"
        attachment_id = new_id()
        response = client.post(
            f"/api/v1/visits/{visit_id}/attachments",
            data=PDF,
            content_type="application/pdf",
            headers={
                **headers,
                "X-Attachment-Id": attachment_id,
                "X-Attachment-Kind": "document",
                "X-Filename": "letter.pdf",
            },
        )
        assert response.status_code == 503, response.get_json()
        assert response.headers["Retry-After"]
        assert response.get_json()["code"] == "evidence.store_unavailable"
        with app.app_context():
            assert db.session.get(Attachment, uuid.UUID(attachment_id)) is None
        assert not list(
            s3_server.client().list_objects_v2(Bucket="wrong-key-evidence").get("Contents", [])
        )
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


class CountingStore(BaseHTTPRequestHandler):
    """An S3 endpoint that is always busy (503), counting the requests it is sent."""

    hits = 0

    def _busy(self):
        type(self).hits += 1
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_PUT = _busy

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("attempts", [1, 2, 3])
def test_s3_max_attempts_counts_every_try(attempts):
    CountingStore.hits = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), CountingStore)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store = open_store(
            "s3://busy-bucket/council",
            {
                "S3_ENDPOINT_URL": f"http://127.0.0.1:{server.server_port}",
                "S3_ADDRESSING_STYLE": "path",
                "S3_ACCESS_KEY_ID": "key",
                "S3_SECRET_ACCESS_KEY": "secret",
                "S3_MAX_ATTEMPTS": attempts,
            },
        )
        with pytest.raises(StorageUnavailable):
            store.size("visits/v/a")
        assert CountingStore.hits == attempts
    finally:
        server.shutdown()
        server.server_close()
