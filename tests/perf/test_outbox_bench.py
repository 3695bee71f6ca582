"""Core-system delivery benchmark (DESIGN.md §8): approval to delivered, and draining a backlog.

1. **Latency.** The app under gunicorn on a scratch PostgreSQL database, one ``flask outbox run``
   worker with the default poll interval, and the stand-in core system (``tests/coresystem.py``)
   in its own process. Visits are recorded, submitted and approved over HTTP one after another;
   latency is the stand-in's clock when it stored the visit minus the moment the approval's
   answer arrived (both ``CLOCK_MONOTONIC``, system-wide). Same-run baseline: a bare POST of an
   equally large body to the same stand-in.
2. **Backlog.** 10,000 messages (2,000 visits x 5 versions) appear at once, as after an outage;
   1, 2 and 4 workers drain them. Same-run baseline: 1, 2 and 4 bare loops that only POST the
   same number of equally large bodies to the same stand-in. After each drain the stand-in must
   hold exactly 10,000 visits and have seen no resend.

    make bench            # or: .venv/bin/python -m pytest -o addopts="" -p no:cacheprovider -s tests/perf -k outbox
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psycopg
import requests

from service.cases.models import Case
from service.extensions import db
from tests.coresystem import CoreSystemServer
from tests.factories import make_case, make_team, make_user, visit_body
from tests.outbox_support import OutboxWorker, core_system_settings, fill_outbox, make_visits
from tests.perf.harness import PostgresDatabase, prepare_database
from tests.served import Gunicorn, ServedApi

APPROVALS = int(os.environ.get("BENCH_APPROVALS", "60"))
BACKLOG = int(os.environ.get("BENCH_BACKLOG", "10000"))
VERSIONS = 5
WORKER_COUNTS = tuple(int(n) for n in os.environ.get("BENCH_WORKERS", "1,2,4").split(","))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def production_settings(core: CoreSystemServer) -> dict[str, object]:
    """The core-system settings with production timings: the default poll, lease and backoff."""
    settings = core_system_settings(core.url, core.token_url)
    for name in ("OUTBOX_POLL_MS", "OUTBOX_LEASE_SECONDS", "OUTBOX_BACKOFF_SECONDS"):
        settings.pop(name)
    settings["OUTBOX_BACKOFF_MAX_SECONDS"] = 1800
    settings.update(CORE_SYSTEM_CONNECT_TIMEOUT=5, CORE_SYSTEM_READ_TIMEOUT=20)
    return settings


def bare_posts(url: str, token_url: str, count: int, offset: int, size: int) -> float:
    """POST ``count`` bodies of ``size`` bytes with fresh Idempotency-Keys; returns seconds."""
    session = requests.Session()
    token = session.post(
        token_url,
        data={"grant_type": "client_credentials"},
        auth=("seen-and-heard", "s3cret"),
        timeout=10,
    ).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    started = time.monotonic()
    for number in range(offset, offset + count):
        body = {"external_reference": {"visit_id": f"bare-{number}", "version": 1}, "x": "x" * size}
        answer = session.post(
            f"{url}/visits", json=body, headers={"Idempotency-Key": f"bare-{number}"}, timeout=20
        )
        assert answer.status_code == 201
    return time.monotonic() - started


def test_approval_to_delivery_latency(tmp_path: Path) -> None:
    with PostgresDatabase() as database, CoreSystemServer() as core:
        settings = production_settings(core)

        def build():
            team = make_team()
            worker = make_user("social_worker", [team])
            supervisor = make_user("supervisor", [team])
            cases = [make_case(team, worker, 2) for _ in range(10)]
            bodies = [visit_body(db.session.get(Case, cases[n % 10].id)) for n in range(APPROVALS)]
            return worker.username, supervisor.username, bodies

        worker_name, supervisor_name, bodies = prepare_database(
            {"SQLALCHEMY_DATABASE_URI": database.sqlalchemy_url, **settings}, build
        )
        env = {
            "DATABASE_URL": database.url,
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST_KIB": "1024",
            **{name: str(value) for name, value in settings.items()},
        }
        delivery_worker = OutboxWorker(database.url, settings, tmp_path / "worker.log")
        with Gunicorn(env, workers=2, timeout=120) as app, delivery_worker:
            api = ServedApi(app.url)
            worker, supervisor = api.sign_in(worker_name), api.sign_in(supervisor_name)
            approved_at: dict[str, tuple[float, float]] = {}
            for body in bodies:
                visit_id = str(uuid.uuid4())
                assert worker.put(f"/visits/{visit_id}", json=body).status == 201
                submitted = worker.post(f"/visits/{visit_id}/submit")
                before = time.monotonic()
                decided = supervisor.post(
                    f"/visits/{visit_id}/review",
                    json={"decision": "approve"},
                    headers={"If-Match": submitted.etag},
                )
                assert decided.status == 201, decided.json
                approved_at[visit_id] = (before, time.monotonic())
                time.sleep(0.2)  # normal conditions: approvals one at a time, not a burst
            deadline = time.monotonic() + 60
            while len(core.received()) < APPROVALS and time.monotonic() < deadline:
                time.sleep(0.2)
            stored = {
                entry["visit_id"]: entry["at"]
                for entry in core.log()
                if entry["path"] == "/visits" and entry["status"] == 201
            }
        assert set(stored) == set(approved_at), "every approval delivered"
        latencies = [stored[v] - answered for v, (_, answered) in approved_at.items()]
        upper = [stored[v] - sent for v, (sent, _) in approved_at.items()]

        size = len(json.dumps(core.received()[0]["body"]))
        session_rounds = []
        session = requests.Session()
        token = session.post(
            core.token_url,
            data={"grant_type": "client_credentials"},
            auth=("seen-and-heard", "s3cret"),
            timeout=10,
        ).json()["access_token"]
        for number in range(200):
            started = time.monotonic()
            session.post(
                f"{core.url}/visits",
                json={"external_reference": {"visit_id": f"b{number}"}, "x": "x" * size},
                headers={"Idempotency-Key": f"b{number}", "Authorization": f"Bearer {token}"},
                timeout=10,
            )
            session_rounds.append(time.monotonic() - started)
    print(
        f"\napproval -> delivered over {APPROVALS} approvals (ms): "
        f"p50 {statistics.median(latencies) * 1000:.0f}, p95 {percentile(latencies, 0.95) * 1000:.0f}, "
        f"max {max(latencies) * 1000:.0f}; from sending the approval: "
        f"p95 {percentile(upper, 0.95) * 1000:.0f}\n"
        f"baseline, a bare POST of {size} bytes to the same stand-in (ms): "
        f"p50 {statistics.median(session_rounds) * 1000:.1f}, "
        f"p95 {percentile(session_rounds, 0.95) * 1000:.1f}"
    )
    assert percentile(latencies, 0.95) < 2.0, "DESIGN.md §8: approval to delivered p95 < 2 s"


def delivered(database: PostgresDatabase) -> int:
    with psycopg.connect(database.url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM outbox_messages WHERE status = 'delivered'"
        ).fetchone()
        return int(row[0]) if row else 0


def test_backlog_drain_with_more_workers(tmp_path: Path) -> None:
    with PostgresDatabase() as database, CoreSystemServer() as core:
        settings = production_settings(core)
        prepare_database(
            {"SQLALCHEMY_DATABASE_URI": database.sqlalchemy_url, **settings}, lambda: None
        )
        results = []
        size = 0
        for workers in WORKER_COUNTS:
            core.reset()
            with psycopg.connect(database.url, autocommit=True) as connection:
                connection.execute("TRUNCATE outbox_messages, visits CASCADE")
            running = [
                OutboxWorker(database.url, settings, tmp_path / f"w{workers}-{n}.log").start()
                for n in range(workers)
            ]
            try:
                time.sleep(3)  # started and polling, as after an outage

                def build():
                    return fill_outbox(make_visits(BACKLOG // VERSIONS), VERSIONS)

                started = time.monotonic()
                assert (
                    prepare_database(
                        {"SQLALCHEMY_DATABASE_URI": database.sqlalchemy_url, **settings}, build
                    )
                    == BACKLOG
                )
                filled = time.monotonic()
                while delivered(database) < BACKLOG:
                    time.sleep(0.25)
                drained = time.monotonic() - filled
            finally:
                for worker in running:
                    worker.stop()
            received = core.received()
            log = [entry for entry in core.log() if entry["path"] == "/visits"]
            assert len(received) == BACKLOG and len(log) == BACKLOG, "each delivered exactly once"
            assert not any(entry["replay"] for entry in log)
            size = len(json.dumps(received[0]["body"]))
            results.append((workers, drained, filled - started))

        baseline = []
        for loops in WORKER_COUNTS:
            core.reset()
            share = BACKLOG // loops
            started = time.monotonic()
            with ProcessPoolExecutor(loops) as pool:
                list(
                    pool.map(
                        bare_posts,
                        [core.url] * loops,
                        [core.token_url] * loops,
                        [share] * loops,
                        [n * share for n in range(loops)],
                        [size] * loops,
                    )
                )
            baseline.append((loops, time.monotonic() - started))
    print(f"\n{BACKLOG} messages waiting, drained by (bodies of about {size} bytes):")
    for (workers, drained, fill), (_, bare) in zip(results, baseline, strict=True):
        print(
            f"  {workers} worker(s): {drained:.1f} s = {BACKLOG / drained:.0f} msg/s"
            f" | {workers} bare POST loop(s): {bare:.1f} s = {BACKLOG / bare:.0f} msg/s"
            f" | ratio {bare / drained:.2f} (fill took {fill:.1f} s)"
        )
