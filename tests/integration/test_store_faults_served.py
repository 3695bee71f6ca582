"""The evidence store failing under a served app (gunicorn, one sync worker; `make run` serves
with gthread, 2 workers x 4 threads: see tests/perf/hung_store_uploads.py for that set-up).

A store that accepts connections and never answers (SeaweedFS paused with SIGSTOP) makes an
upload answer 503 with ``Retry-After`` well before gunicorn would kill the worker, and
``/readyz`` answer within 2 s; nothing is half-written: no row, and whatever the store took in
after it woke (a body it had buffered, a multipart upload begun) goes at ``evidence reconcile``.
After one timeout the store's circuit breaker fails uploads fast until its cool-down is over
and a trial succeeds. A worker killed mid-upload leaves no row, and after ``evidence reconcile``
no object and no incomplete upload.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import uuid

import pytest
from sqlalchemy import func, select

from service import create_app
from service.evidence.models import Attachment
from service.extensions import db
from storage.s3 import worst_case_seconds
from tests.evidence_files import MP4, PDF
from tests.factories import FAST_TEST_SETTINGS, make_case, make_team, make_user, visit_body
from tests.s3server import S3Server
from tests.served import Request, ServedApp, served_app

MIB = 1024 * 1024
BUCKET = "served-evidence"
CONNECT, READ, ATTEMPTS = 1, 2, 2
COOLDOWN = 4  # S3_FAIL_FAST_SECONDS
GUNICORN_TIMEOUT = 30


@pytest.fixture
def store_server():
    server = S3Server().start()
    server.create_bucket(BUCKET)
    yield server
    server.close()


def s3_settings(server):
    return {
        "EVIDENCE_STORE": f"s3://{BUCKET}/council",
        "S3_CONNECT_TIMEOUT": CONNECT,
        "S3_READ_TIMEOUT": READ,
        "S3_MAX_ATTEMPTS": ATTEMPTS,
        "S3_PART_SIZE_MB": 5,
        "S3_FAIL_FAST_SECONDS": COOLDOWN,
    }


@pytest.fixture
def served(tmp_path, store_server):
    env = {
        **store_server.env(),
        **{name: str(value) for name, value in s3_settings(store_server).items()},
    }
    with served_app(
        f"sqlite:///{tmp_path / 'served.db'}",
        tmp_path,
        workers=1,
        worker_class="sync",
        timeout=GUNICORN_TIMEOUT,
        env=env,
    ) as running:
        yield running


@pytest.fixture
def maintenance(served, store_server):
    """An app on the served database and store, for `flask evidence reconcile` and counts."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": served.database_url,
            **FAST_TEST_SETTINGS,
            **store_server.settings(),
            **s3_settings(store_server),
        }
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def new_visit(served: ServedApp):
    def build():
        team = make_team()
        worker = make_user("social_worker", [team])
        case = make_case(team, worker, 1)
        return worker.username, visit_body(case)

    username, body = served.seed(build)
    worker = served.api.sign_in(username)
    visit_id = str(uuid.uuid4())
    assert worker.put(f"/visits/{visit_id}", json=body).status == 201
    return worker, visit_id


def upload(worker, visit_id, attachment_id, body, content_type="application/pdf"):
    kind = "document" if content_type == "application/pdf" else "video"
    connection = worker.api.connect()
    connection.request(
        "POST",
        f"/api/v1/visits/{visit_id}/attachments",
        body=body,
        headers={
            "Authorization": f"Bearer {worker.token}",
            "Content-Type": content_type,
            "X-Attachment-Id": attachment_id,
            "X-Attachment-Kind": kind,
            "X-Filename": "evidence",
        },
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def reconcile(maintenance, store_server):
    """Run `evidence reconcile` with no grace period: after it, the store holds the recorded
    objects and nothing else, and no upload is left incomplete.
    """
    result = maintenance.test_cli_runner().invoke(
        args=["evidence", "reconcile", "--grace-minutes", "0"]
    )
    assert result.exit_code == 0, result.output
    client = store_server.client()
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="council/visits/").get("Contents", [])
    with maintenance.app_context():
        recorded = set(db.session.scalars(select(Attachment.store_key)))
    assert {item["Key"].removeprefix("council/") for item in listed} == recorded
    assert not client.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    return result.output


def attachment_rows(maintenance):
    with maintenance.app_context():
        return db.session.scalar(select(func.count()).select_from(Attachment))


def test_the_default_timeouts_fit_inside_make_runs_gunicorn_timeout():
    assert worst_case_seconds(3, 30, 2) < 90  # the defaults, and the Makefile's GUNICORN_TIMEOUT
    assert worst_case_seconds(CONNECT, READ, ATTEMPTS) < GUNICORN_TIMEOUT / 2


@pytest.mark.parametrize(
    ("size", "content_type"),
    [(len(PDF), "application/pdf"), (12 * MIB, "video/mp4")],
    ids=["single-put", "multipart"],
)
def test_a_hung_store_is_a_503_before_the_worker_is_killed(
    served, store_server, maintenance, size, content_type
):
    worker, visit_id = new_visit(served)
    body = PDF if content_type == "application/pdf" else MP4 + b"\0" * (size - len(MP4))
    assert upload(worker, visit_id, str(uuid.uuid4()), body, content_type).status == 201
    attachment_id = str(uuid.uuid4())
    store_server.pause()
    try:
        started = time.monotonic()
        hung = upload(worker, visit_id, attachment_id, body, content_type)
        took = time.monotonic() - started
        assert hung.status == 503, served.log()
        assert hung.getheader("Retry-After")
        # Each try waits for "100 Continue" and the read, and nothing waits on the hung store
        # after the last one: no clean-up call (within the worst case, which allows for two).
        assert took < ATTEMPTS * (CONNECT + 1 + READ) + 1
        assert worst_case_seconds(CONNECT, READ, ATTEMPTS) < GUNICORN_TIMEOUT / 2
        started = time.monotonic()
        ready = worker.api.send(Request("GET", "/readyz"))
        assert time.monotonic() - started < 2
        assert ready.status == 503 and ready.json["checks"]["evidence_store"] == "unavailable"
    finally:
        store_server.resume()
    assert attachment_rows(maintenance) == 1  # the first upload's only
    with maintenance.app_context():
        assert db.session.get(Attachment, uuid.UUID(attachment_id)) is None
    time.sleep(1)  # let the woken store finish what it had buffered
    assert "0 missing" in reconcile(maintenance, store_server)
    time.sleep(COOLDOWN)  # the served app fails fast until its breaker's cool-down is over
    retried = upload(worker, visit_id, attachment_id, body, content_type)
    assert retried.status == 201


def test_after_one_upload_timed_out_the_next_ones_fail_fast_until_the_store_is_back(
    served, store_server, maintenance
):
    worker, visit_id = new_visit(served)
    store_server.pause()
    try:
        started = time.monotonic()
        first = upload(worker, visit_id, str(uuid.uuid4()), PDF)
        waited = time.monotonic() - started
        assert first.status == 503 and first.getheader("Retry-After"), served.log()
        assert waited >= READ  # it really waited on the hung store, for one try: its retry
        assert waited < CONNECT + 1 + READ + 1.5  # failed fast (plus botocore's back-off)
        for _ in range(3):
            started = time.monotonic()
            fast = upload(worker, visit_id, str(uuid.uuid4()), PDF)
            assert fast.status == 503 and fast.getheader("Retry-After")
            assert time.monotonic() - started < 0.5  # no wait on the hung store
        # /readyz still really probes (and so would see the store recover).
        ready = worker.api.send(Request("GET", "/readyz"))
        assert ready.status == 503 and ready.json["checks"]["evidence_store"] == "unavailable"
    finally:
        store_server.resume()
    assert attachment_rows(maintenance) == 0  # nothing half-stored
    time.sleep(COOLDOWN)
    attachment_id = str(uuid.uuid4())
    assert upload(worker, visit_id, attachment_id, PDF).status == 201  # the trial, which closes it
    assert upload(worker, visit_id, str(uuid.uuid4()), PDF).status == 201
    assert attachment_rows(maintenance) == 2


def test_a_worker_killed_mid_upload_leaves_no_row_and_reconcile_leaves_no_orphan(
    served, store_server, maintenance
):
    worker, visit_id = new_visit(served)
    size = 12 * MIB
    sent = MP4 + b"\0" * (7 * MIB - len(MP4))  # more than one 5 MiB part, less than the whole
    connection = socket.create_connection(("127.0.0.1", served.api.port), timeout=30)
    try:
        connection.sendall(
            (
                f"POST /api/v1/visits/{visit_id}/attachments HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nAuthorization: Bearer {worker.token}\r\n"
                f"Content-Type: video/mp4\r\nContent-Length: {size}\r\n"
                f"X-Attachment-Id: {uuid.uuid4()}\r\nX-Attachment-Kind: video\r\n\r\n"
            ).encode()
        )
        for start in range(0, len(sent), MIB):
            connection.sendall(sent[start : start + MIB])
            time.sleep(0.05)
        client = store_server.client()
        deadline = time.monotonic() + 10
        while not client.list_multipart_uploads(Bucket=BUCKET).get("Uploads"):
            assert time.monotonic() < deadline, "the store never saw the upload begin"
            time.sleep(0.1)
        (worker_pid,) = served.server.worker_pids()
        os.kill(worker_pid, signal.SIGKILL)
        assert connection.recv(1024) == b""  # the connection dies with the worker
    finally:
        connection.close()
    assert attachment_rows(maintenance) == 0
    output = reconcile(maintenance, store_server)
    assert "incomplete upload" in output


def test_a_store_hanging_mid_multipart_upload_is_a_503_and_the_upload_is_aborted_later(
    served, store_server, maintenance
):
    worker, visit_id = new_visit(served)
    size = 30 * MIB
    body = MP4 + b"\0" * (size - len(MP4))
    connection = socket.create_connection(("127.0.0.1", served.api.port), timeout=30)
    failures = []

    def send_body():
        try:
            for start in range(0, size, MIB):
                connection.sendall(body[start : start + MIB])
        except OSError as error:  # the app may answer and close before reading it all
            failures.append(error)

    try:
        connection.sendall(
            (
                f"POST /api/v1/visits/{visit_id}/attachments HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nAuthorization: Bearer {worker.token}\r\n"
                f"Content-Type: video/mp4\r\nContent-Length: {size}\r\n"
                f"X-Attachment-Id: {uuid.uuid4()}\r\nX-Attachment-Kind: video\r\n\r\n"
            ).encode()
        )
        connection.sendall(body[: 6 * MIB])
        client = store_server.client()
        deadline = time.monotonic() + 10
        while not client.list_multipart_uploads(Bucket=BUCKET).get("Uploads"):
            assert time.monotonic() < deadline, "the store never saw the upload begin"
            time.sleep(0.05)
        store_server.pause()
        paused = time.monotonic()
        sender = threading.Thread(target=send_body, daemon=True)
        sender.start()
        head = connection.recv(4096)
        took = time.monotonic() - paused
    finally:
        store_server.resume()
        connection.close()
    assert head.startswith(b"HTTP/1.1 503"), head
    assert b"Retry-After" in head
    # The part's tries, then one quick abort: within the worst case, far from gunicorn's timeout.
    assert took < worst_case_seconds(CONNECT, READ, ATTEMPTS), took
    assert attachment_rows(maintenance) == 0
    time.sleep(1)
    reconcile(maintenance, store_server)  # the abort the hung store never answered, done now
