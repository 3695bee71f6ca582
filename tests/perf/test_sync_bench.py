"""Sync benchmark (DESIGN.md §8): a 100-visit offline batch on PostgreSQL, and its replay.

The app runs under gunicorn (2 workers) on a scratch PostgreSQL database. Each round sends a
fresh batch of 100 complete visits (all submitted), then the identical batch again; the same-run
baseline is the same 100 visits sent as separate PUT + submit requests. Row counts before and
after the replays show that a replay writes nothing.

    make bench            # or: .venv/bin/python -m pytest -o addopts="" tests/perf -s -k sync
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import datetime

from service.cases.models import Case
from service.extensions import db
from tests.factories import PASSWORD, make_case, make_team, make_user, visit_body
from tests.perf.harness import PostgresDatabase, post_json, prepare_database
from tests.served import Gunicorn

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
BATCH = 100
TABLES = ("visits", "visit_children", "visit_versions", "children", "sync_receipts")


def _json_ready(body):
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in body.items()}


def test_sync_batch_and_replay():
    with PostgresDatabase() as database:
        settings = {
            "SQLALCHEMY_DATABASE_URI": database.sqlalchemy_url,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST_KIB": 1024,
        }

        def build():
            team = make_team()
            worker = make_user("social_worker", [team])
            cases = [make_case(team, worker, 2) for _ in range(50)]
            bodies = [visit_body(db.session.get(Case, case.id)) for case in cases]
            return worker.username, bodies

        username, bodies = prepare_database(settings, build)
        env = {
            "DATABASE_URL": database.url,
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST_KIB": "1024",
        }
        with Gunicorn(env, workers=2, timeout=900) as app:
            status, tokens = post_json(
                app.url,
                "/api/v1/auth/token",
                {"username": username, "password": PASSWORD, "device_id": "bench-tablet"},
            )
            token = tokens["access_token"]
            post_json(
                app.url, "/api/v1/sync", {"device_id": "bench-tablet", "visits": []}, token
            )  # warm up
            first, replay, separate = [], [], []
            counts = []
            for _ in range(ROUNDS):
                batch = [
                    {
                        **_json_ready(bodies[i % len(bodies)]),
                        "id": str(uuid.uuid4()),
                        "submit": True,
                    }
                    for i in range(BATCH)
                ]
                payload = {"device_id": "bench-tablet", "cursor": None, "visits": batch}
                started = time.perf_counter()
                status, answer = post_json(app.url, "/api/v1/sync", payload, token)
                first.append(time.perf_counter() - started)
                assert status == 200, answer
                assert [r["result"] for r in answer["results"]] == ["created"] * BATCH, answer[
                    "results"
                ][:2]
                before = {table: database.count(table) for table in TABLES}
                started = time.perf_counter()
                status, again = post_json(app.url, "/api/v1/sync", payload, token)
                replay.append(time.perf_counter() - started)
                assert status == 200 and again["results"] == answer["results"]
                counts.append((before, {table: database.count(table) for table in TABLES}))
                started = time.perf_counter()
                for body in batch:
                    single = {k: v for k, v in body.items() if k not in ("id", "submit")}
                    visit_id = str(uuid.uuid4())
                    status, _ = post_json(
                        app.url, f"/api/v1/visits/{visit_id}", single, token, method="PUT"
                    )
                    assert status == 201
                    status, _ = post_json(app.url, f"/api/v1/visits/{visit_id}/submit", {}, token)
                    assert status == 200
                separate.append(time.perf_counter() - started)
            audit_events = database.count("audit_events")
    med_first, med_replay, med_separate = (statistics.median(x) for x in (first, replay, separate))
    print(
        f"\nsync {BATCH} submitted visits x{ROUNDS} on PostgreSQL: batch median {med_first * 1000:.0f} ms "
        f"(max {max(first) * 1000:.0f}); replay median {med_replay * 1000:.0f} ms "
        f"({med_replay / med_first:.2f} of the batch); the same visits as {2 * BATCH} separate "
        f"requests median {med_separate * 1000:.0f} ms ({med_separate / med_first:.1f}x the batch). "
        f"Rows before/after each replay equal: {all(b == a for b, a in counts)}; "
        f"audit events in all: {audit_events}"
    )
    assert all(before == after for before, after in counts)
    assert med_first < 1.0
    assert med_replay < med_first
