"""Eight uploads at once against a hung evidence store, served as `make run` serves the app.

gunicorn gthread, 2 workers x 4 threads, the default S3 timeouts (connect 3 s, read 30 s, two
attempts); SeaweedFS paused with SIGSTOP. Prints how long until every upload had its 503, and
how long a ``GET /healthz`` sent a second after them took. Run it with the breaker off and on:

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench \
        .venv/bin/python -m tests.perf.hung_store_uploads 0    # and then 15

on an empty PostgreSQL database, as `make run` (SQLite would serialise the uploads' writes).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from tests.evidence_files import PDF
from tests.factories import make_case, make_team, make_user, visit_body
from tests.s3server import S3Server
from tests.served import Request, served_app

BUCKET = "hung-evidence"
UPLOADS = 8


def main(fail_fast_seconds: str) -> None:
    """Serve, pause the store, race the uploads and a /healthz, print the figures."""
    store = S3Server().start()
    store.create_bucket(BUCKET)
    workdir = Path(tempfile.mkdtemp())
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir / 'served.db'}"
    env = {
        **store.env(),
        "EVIDENCE_STORE": f"s3://{BUCKET}/council",
        "S3_FAIL_FAST_SECONDS": fail_fast_seconds,
    }
    try:
        with served_app(database_url, workdir, workers=2, threads=4, timeout=90, env=env) as served:

            def build():
                team = make_team()
                worker = make_user("social_worker", [team])
                return worker.username, visit_body(make_case(team, worker, 1))

            username, body = served.seed(build)
            worker = served.api.sign_in(username)
            visit_id = str(uuid.uuid4())
            assert worker.put(f"/visits/{visit_id}", json=body).status == 201
            store.pause()
            took: list[tuple[str, float]] = []

            def upload() -> None:
                connection = worker.api.connect()
                connection.sock.settimeout(300)
                started = time.monotonic()
                connection.request(
                    "POST",
                    f"/api/v1/visits/{visit_id}/attachments",
                    body=PDF,
                    headers={
                        "Authorization": f"Bearer {worker.token}",
                        "Content-Type": "application/pdf",
                        "X-Attachment-Id": str(uuid.uuid4()),
                        "X-Attachment-Kind": "document",
                        "X-Filename": "evidence",
                    },
                )
                response = connection.getresponse()
                code = json.loads(response.read() or b"{}").get("code", "")
                took.append((f"{response.status} {code}", time.monotonic() - started))

            started = time.monotonic()
            threads = [threading.Thread(target=upload) for _ in range(UPLOADS)]
            for thread in threads:
                thread.start()
            time.sleep(1)
            health_started = time.monotonic()
            probe = worker.api.connect()
            probe.sock.settimeout(300)
            health = worker.api.send(Request("GET", "/healthz"), probe)
            health_took = time.monotonic() - health_started
            for thread in threads:
                thread.join()
            total = time.monotonic() - started
            store.resume()
            print(f"S3_FAIL_FAST_SECONDS={fail_fast_seconds}")
            print("uploads (status, seconds):", sorted((round(t, 1), s) for s, t in took))
            print(
                f"all answered after {total:.1f} s; /healthz {health.status} in {health_took:.1f} s"
            )
    finally:
        store.resume()
        store.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "15")
