"""One contract, two stores: LocalStore on disk and S3Store over HTTP against SeaweedFS."""

import io
import os
import time
import urllib.request
import uuid

import pytest

from storage import StorageError, StorageUnavailable, open_store
from storage.s3 import S3Store
from tests.s3server import S3Server

MIB = 1024 * 1024


def s3_store(server, bucket=None, **options):
    bucket = bucket or f"contract-{uuid.uuid4().hex[:10]}"
    server.create_bucket(bucket)
    settings = {
        **server.settings(),
        "S3_PART_SIZE_MB": 5,
        **options,
    }
    return open_store(f"s3://{bucket}/council-a", settings)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return open_store(f"file://{tmp_path / 'evidence'}", {})
    return s3_store(request.getfixturevalue("s3_server"))


def read_all(store, key, start=0, stop=None):
    return b"".join(store.open(key, start, stop))


def test_put_read_size_delete(store):
    data = os.urandom(3 * MIB + 17)
    assert store.put("visits/v1/a1", io.BytesIO(data)) == len(data)
    assert store.size("visits/v1/a1") == len(data)
    assert read_all(store, "visits/v1/a1") == data
    store.delete("visits/v1/a1")
    with pytest.raises(FileNotFoundError):
        store.size("visits/v1/a1")
    store.delete("visits/v1/a1")  # deleting twice is fine


def test_byte_ranges(store):
    data = bytes(range(256)) * 100
    store.put("visits/v1/range", io.BytesIO(data))
    assert read_all(store, "visits/v1/range", 10, 20) == data[10:20]
    assert read_all(store, "visits/v1/range", 25_000) == data[25_000:]


def test_missing_object_is_file_not_found(store):
    with pytest.raises(FileNotFoundError):
        read_all(store, "visits/none/none")
    with pytest.raises(FileNotFoundError):
        store.size("visits/none/none")


def test_listing_under_a_prefix(store):
    for name in ("a", "b"):
        store.put(f"visits/v2/{name}", io.BytesIO(b"x" * 10))
    store.put("other/thing", io.BytesIO(b"y"))
    listed = sorted((item.key, item.size) for item in store.list("visits/"))
    assert listed == [("visits/v2/a", 10), ("visits/v2/b", 10)]
    assert all(item.last_modified.tzinfo for item in store.list("visits/"))


def test_store_check(store):
    store.check()


def test_local_store_refuses_path_tricks_and_overwrites(tmp_path):
    store = open_store(f"file://{tmp_path / 'evidence'}", {})
    for key in ("../../etc/passwd", "/etc/passwd", "visits/../../x", "visits//x", ".hidden"):
        with pytest.raises(StorageError):
            store.put(key, io.BytesIO(b"x"))
    store.put("visits/v/a", io.BytesIO(b"first"))
    with pytest.raises(StorageError, match="overwrite"):
        store.put("visits/v/a", io.BytesIO(b"second"))
    assert read_all(store, "visits/v/a") == b"first"
    assert not (tmp_path / "etc").exists()


def test_s3_multipart_upload_is_encrypted_and_complete(s3_server):
    store = s3_store(s3_server)
    data = os.urandom(12 * MIB + 5)  # three 5 MiB parts
    assert store.put("visits/v/big", io.BytesIO(data)) == len(data)
    head = s3_server.client().head_object(Bucket=store.bucket, Key="council-a/visits/v/big")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentLength"] == len(data)
    assert "-3" in head["ETag"]  # a multipart ETag names its part count
    assert read_all(store, "visits/v/big") == data


def test_s3_presigned_url_works_and_is_short_lived(s3_server):
    store = s3_store(s3_server)
    store.put("visits/v/doc", io.BytesIO(b"%PDF-1.4 evidence"))
    url = store.presigned_url("visits/v/doc", "letter.pdf", "application/pdf", 60)
    assert "X-Amz-Expires=60" in url
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback test server
        assert response.read() == b"%PDF-1.4 evidence"
        assert 'filename="letter.pdf"' in response.headers["Content-Disposition"]


def test_s3_server_stopped_is_unavailable_within_a_bounded_time():
    server = S3Server().start()
    try:
        store = s3_store(server, S3_CONNECT_TIMEOUT=1, S3_READ_TIMEOUT=2, S3_MAX_ATTEMPTS=1)
        store.put("visits/v/a", io.BytesIO(b"before"))
    finally:
        server.close()
    started = time.monotonic()
    for action in (
        lambda: store.put("visits/v/b", io.BytesIO(b"after")),
        lambda: read_all(store, "visits/v/a"),
        store.check,
    ):
        with pytest.raises(StorageUnavailable):
            action()
    assert time.monotonic() - started < 15
    assert isinstance(store, S3Store)
