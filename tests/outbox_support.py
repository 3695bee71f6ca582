"""Running outbox workers for real and filling the outbox, for the integration tests and benchmarks.

:class:`OutboxWorker` is ``flask --app wsgi outbox run`` in its own process, configured through
the environment exactly as a council would run it beside gunicorn. :func:`fill_outbox` writes
messages straight into the table (several versions per visit, so order can be checked) when a
test needs thousands of them and the approvals themselves are not what it is about.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from service.core_system import payload
from service.core_system.models import OutboxMessage
from service.extensions import db
from service.visits.models import Visit
from tests.factories import make_case, make_team, make_user

ROOT = Path(__file__).resolve().parents[1]


def core_system_settings(url: str, token_url: str, **overrides: Any) -> dict[str, Any]:
    """Settings for an app delivering to the stand-in core system, with quick retries."""
    return {
        "CORE_SYSTEM_URL": url,
        "CORE_SYSTEM_TOKEN_URL": token_url,
        "CORE_SYSTEM_CLIENT_ID": "seen-and-heard",
        "CORE_SYSTEM_CLIENT_SECRET": "s3cret",
        "CORE_SYSTEM_CONNECT_TIMEOUT": 1,
        "CORE_SYSTEM_READ_TIMEOUT": 2,
        "OUTBOX_LEASE_SECONDS": 8,
        "OUTBOX_BACKOFF_SECONDS": 1,
        "OUTBOX_BACKOFF_MAX_SECONDS": 2,
        "OUTBOX_POLL_MS": 50,
        **overrides,
    }


class OutboxWorker:
    """``flask --app wsgi outbox run`` as a separate process; ``stop()`` sends SIGTERM."""

    def __init__(self, database_url: str, settings: dict[str, Any], log_path: Path) -> None:
        env = {name: str(value) for name, value in settings.items()}
        self.env = {
            **os.environ,
            **env,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "outbox-test-secret-" + "x" * 32,
            "SEEN_HEARD_ENV": "testing",
            "EVIDENCE_STORE": f"file://{log_path.parent / 'evidence'}",
        }
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OutboxWorker:
        """Start the worker; it logs to ``log_path``."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "outbox", "run"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        return self

    def stop(self, timeout: float = 30) -> int:
        """Ask the worker to stop (SIGTERM) and wait; returns its exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.process = None
        return code

    def kill(self) -> None:
        """Kill the worker at once (SIGKILL): nothing it was doing gets finished."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def log(self) -> str:
        """What the worker printed."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> OutboxWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def make_visits(count: int) -> list[uuid.UUID]:
    """``count`` approved visits (rows only) on one case, for messages to point at."""
    team = make_team()
    worker = make_user("social_worker", [team])
    case = make_case(team, worker, 1)
    now = datetime.now(UTC)
    ids = [uuid.uuid4() for _ in range(count)]
    db.session.execute(
        insert(Visit),
        [
            {
                "id": visit_id,
                "case_id": case.id,
                "worker_id": worker.id,
                "visit_type": "statutory",
                "started_at": now,
                "content_digest": "0" * 64,
                "status": "approved",
                "version": 3,
                "people_present": [],
                "recorded_at": now,
                "updated_at": now,
            }
            for visit_id in ids
        ],
    )
    return ids


def fill_outbox(visit_ids: list[uuid.UUID], versions: int) -> int:
    """Messages for versions 1..``versions`` of each visit, interleaved across visits the way
    approvals arrive (every visit's version 1, then every version 2, ...). Returns how many.
    """
    now = datetime.now(UTC)
    rows = []
    for number in range(1, versions + 1):
        for visit_id in visit_ids:
            body = {
                "contract": payload.CONTRACT,
                "event": payload.APPROVED if number == 1 else payload.AMENDMENT_APPROVED,
                "external_reference": {"visit_id": str(visit_id), "version": number},
                "children": [{"person_ref": "P1", "voice": {"own_words": "x" * 200}}],
            }
            rows.append(
                {
                    "visit_id": visit_id,
                    "version_number": number,
                    "event": body["event"],
                    "idempotency_key": payload.idempotency_key(visit_id, number),
                    "payload": body,
                    "payload_sha256": payload.digest(body),
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
    for start in range(0, len(rows), 1000):
        db.session.execute(insert(OutboxMessage), rows[start : start + 1000])
    return len(rows)


def wait_for(condition: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s (last: {result!r})")
        time.sleep(interval)


def counts_by_status() -> dict[str, int]:
    """How many messages are in each status."""
    rows = db.session.execute(select(OutboxMessage.status, db.func.count()).group_by("status"))
    return {status: int(count) for status, count in rows}
