"""Evidence upload benchmark (DESIGN.md §8): a 1 GiB file through the API to an S3 server.

Compared, in the same run and against the same S3 server (SeaweedFS), with a direct boto3 upload of the
same file using the same part size and concurrency. Reports medians of three runs each and
their ratio, and the serving worker's peak-RSS growth (VmHWM) during the API uploads.

    make bench            # or: .venv/bin/python -m pytest -o addopts="" tests/perf -s -k upload
"""

from __future__ import annotations

import http.client
import os
import statistics
import time
import uuid

import pytest
from boto3.s3.transfer import TransferConfig

from tests.evidence_files import MP4
from tests.factories import PASSWORD, make_case, make_team, make_user, visit_body
from tests.perf.harness import prepare_database, status_kib
from tests.s3server import S3Server
from tests.served import Gunicorn

GIB = 1024**3
MIB = 1024**2
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SIZE = int(os.environ.get("BENCH_UPLOAD_BYTES", str(GIB)))


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "visit-video.mp4"
    block = os.urandom(MIB)
    with path.open("wb") as out:
        out.write(MP4)
        written = len(MP4)
        while written < SIZE:
            chunk = block[: min(MIB, SIZE - written)]
            out.write(chunk)
            written += len(chunk)
    return path


def direct_upload(server, bucket, path):
    client = server.client()
    config = TransferConfig(
        multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=2, max_io_queue=4
    )
    key = f"direct/{uuid.uuid4().hex}"
    started = time.perf_counter()
    client.upload_file(
        str(path),
        bucket,
        key,
        ExtraArgs={"ServerSideEncryption": "AES256", "ChecksumAlgorithm": "CRC32"},
        Config=config,
    )
    elapsed = time.perf_counter() - started
    client.delete_object(Bucket=bucket, Key=key)
    return elapsed


def api_upload(base_url, token, visit_id, path):
    connection = http.client.HTTPConnection(
        base_url.removeprefix("http://"), timeout=900, blocksize=MIB
    )
    size = path.stat().st_size
    started = time.perf_counter()
    with path.open("rb") as body:
        connection.request(
            "POST",
            f"/api/v1/visits/{visit_id}/attachments",
            body=body,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "video/mp4",
                "Content-Length": str(size),
                "X-Attachment-Id": str(uuid.uuid4()),
                "X-Attachment-Kind": "video",
                "X-Filename": "visit-video.mp4",
            },
        )
        response = connection.getresponse()
        response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    assert response.status == 201, response.status
    return elapsed


def login(base_url, username):
    import json
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{base_url}/api/v1/auth/token",
        data=json.dumps({"username": username, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310
        return json.load(response)["access_token"]


def test_upload_memory_and_throughput(tmp_path, big_file):
    server = S3Server().start()
    try:
        server.create_bucket("bench")
        settings = {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'bench.db'}",
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST_KIB": 1024,
        }

        def build():
            team = make_team()
            worker = make_user("social_worker", [team])
            case = make_case(team, worker, 1)
            from service.visits.operations import put_visit

            body = visit_body(case)
            body["case_id"] = case.id
            body["children"][0]["child_id"] = case.children[0].id
            from datetime import datetime

            body["started_at"] = datetime.fromisoformat(body["started_at"])
            body["ended_at"] = datetime.fromisoformat(body["ended_at"])
            visit, _ = put_visit(worker, uuid.uuid4(), body, None)
            return worker.username, str(visit.id)

        username, visit_id = prepare_database(settings, build)
        env = {
            "DATABASE_URL": settings["SQLALCHEMY_DATABASE_URI"],
            "EVIDENCE_STORE": "s3://bench/evidence",
            **server.env(),
            "S3_READ_TIMEOUT": "300",
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST_KIB": "1024",
            "EVIDENCE_MAX_MB_VIDEO": "2048",
        }
        with Gunicorn(env, timeout=900) as app:
            token = login(app.url, username)
            (worker_pid,) = app.worker_pids()
            # Warm up: the first upload imports and initialises the S3 transfer machinery.
            small = tmp_path / "warm.mp4"
            small.write_bytes(MP4 + os.urandom(20 * MIB))
            api_upload(app.url, token, visit_id, small)
            hwm_before = status_kib(worker_pid, "VmHWM")
            direct, through_api, peaks = [], [], []
            for _ in range(RUNS):
                direct.append(direct_upload(server, "bench", big_file))
                through_api.append(api_upload(app.url, token, visit_id, big_file))
                peaks.append((status_kib(worker_pid, "VmHWM") - hwm_before) / 1024)
            hwm_after = status_kib(worker_pid, "VmHWM")
    finally:
        server.close()
    size_mib = big_file.stat().st_size / MIB
    direct_mibs = size_mib / statistics.median(direct)
    api_mibs = size_mib / statistics.median(through_api)
    growth_mib = (hwm_after - hwm_before) / 1024
    print(
        f"\nupload {size_mib:.0f} MiB x{RUNS}: direct boto3 median {statistics.median(direct):.2f} s "
        f"({direct_mibs:.0f} MiB/s); through the API median {statistics.median(through_api):.2f} s "
        f"({api_mibs:.0f} MiB/s); ratio {api_mibs / direct_mibs:.2f}; "
        f"worker peak RSS before {hwm_before / 1024:.0f} MiB, growth {growth_mib:.1f} MiB "
        f"(after each upload: {', '.join(f'{peak:.1f}' for peak in peaks)} MiB)"
    )
    assert growth_mib < 64
    assert api_mibs >= 0.7 * direct_mibs
