"""The audit chain's cost (DESIGN.md §8): visit create with the chain against the same app with
the chain taken out (tests/perf/unchained_app.py), in the same run, alternating rounds; and
``audit verify`` over a million events.

    make bench   # or: .venv/bin/python -m pytest -o addopts="" tests/perf -s -k audit
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from service.audit import chain as chaining
from service.cases.models import Case
from service.extensions import db
from tests.factories import PASSWORD, make_case, make_team, make_user, visit_body
from tests.perf.harness import PostgresDatabase, post_json, prepare_database
from tests.perf.test_visit_create_bench import ROUNDS, wrk
from tests.served import Gunicorn

# 4 sync workers, as when its figures were measured (the create bench now uses make run's set-up).
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
EVENTS = int(os.environ.get("BENCH_AUDIT_EVENTS", "1000000"))
CHAINS = 16


def _create_rps(url, username, body_json):
    status, tokens = post_json(
        url, "/api/v1/auth/token", {"username": username, "password": PASSWORD}
    )
    assert status == 200
    return wrk(
        url,
        "put.lua",
        {
            "WRK_BODY": body_json,
            "WRK_TOKEN": tokens["access_token"],
            "WRK_PREFIX": "/api/v1/visits/",
        },
    )


def test_visit_create_with_and_without_the_chain():
    with PostgresDatabase() as database:
        settings = {
            "SQLALCHEMY_DATABASE_URI": database.sqlalchemy_url,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST_KIB": 1024,
        }

        def build():
            team = make_team()
            worker = make_user("social_worker", [team])
            case = make_case(team, worker, 2)
            return worker.username, visit_body(db.session.get(Case, case.id))

        username, body = prepare_database(settings, build)
        body_json = json.dumps(body)
        env = {
            "DATABASE_URL": database.url,
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST_KIB": "1024",
            "JWT_ACCESS_TTL_SECONDS": "3600",
        }
        results = {"without the chain": [], "with the chain": []}
        builds = [
            ("without the chain", "tests.perf.unchained_app:app"),
            ("with the chain", "wsgi:app"),
        ]
        for round_ in range(ROUNDS):
            # Alternate which goes first: the tables grow, so the second build of a round
            # always runs on more rows than the first.
            for name, module in builds if round_ % 2 == 0 else reversed(builds):
                with Gunicorn(env, workers=WORKERS, timeout=900, app=module) as app:
                    results[name].append(_create_rps(app.url, username, body_json))
    medians = {}
    for name, runs in results.items():
        medians[name] = statistics.median(run["rps"] for run in runs)
        rounds = ", ".join(f"{run['rps']:.0f}" for run in runs)
        print(
            f"\nPUT /visits {name:<18} median {medians[name]:7.1f} req/s (rounds {rounds}); "
            f"p99 {statistics.median(r['p99'] for r in runs):.1f} ms; failed {sum(r['failed'] for r in runs)}"
        )
    ratio = medians["with the chain"] / medians["without the chain"]
    print(f"with / without the chain: {ratio:.3f} (target >= 0.90)")
    assert all(run["failed"] == 0 for runs in results.values() for run in runs)
    assert ratio >= 0.9


def _events(count):
    """``count`` chained events over CHAINS chains, as COPY rows, hashed as the service does."""
    heads = {c: (0, chaining.GENESIS) for c in range(CHAINS)}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    actor = uuid.uuid4()
    for index in range(count):
        child = uuid.UUID(int=index % 50_000 + 1)
        row = {
            "chain": index % CHAINS,
            "at": start + timedelta(milliseconds=index),
            "actor_id": actor,
            "actor_role": "social_worker",
            "action": "read",
            "record_type": "visit",
            "record_id": str(uuid.UUID(int=index + 1)),
            "child_id": child,
            "remote_addr": "10.0.0.7",
            "user_agent": "TabletApp/2.1",
            "request_id": f"{index:032x}",
            "device_id": None,
            "changed_fields": [],
            "snapshot_sha256": None,
            "details": {},
        }
        seq, previous = heads[row["chain"]]
        row["seq"] = seq + 1
        row["prev_hash"] = previous
        row["hash"] = chaining.event_hash(previous, row)
        heads[row["chain"]] = (row["seq"], row["hash"])
        yield (
            row["chain"], row["seq"], row["at"], row["actor_id"], row["actor_role"], row["action"],
            row["record_type"], row["record_id"], row["child_id"], row["remote_addr"],
            row["user_agent"], row["request_id"], None, "[]", None, "{}", row["prev_hash"], row["hash"],
        )  # fmt: skip


def test_audit_verify_speed_over_a_million_events():
    from flask_migrate import upgrade

    from service import create_app
    from service.audit import anchors, verify

    with PostgresDatabase() as database:
        anchors_folder = tempfile.mkdtemp(prefix="audit-anchors-")
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": database.sqlalchemy_url,
                "EVIDENCE_STORE": f"file://{anchors_folder}",
            }
        )
        with app.app_context():
            upgrade()
            db.session.remove()
        started = time.perf_counter()
        columns = (
            "chain, seq, at, actor_id, actor_role, action, record_type, record_id, child_id, "
            "remote_addr, user_agent, request_id, device_id, changed_fields, snapshot_sha256, "
            "details, prev_hash, hash"
        )
        copy_sql = f"COPY audit_events ({columns}) FROM STDIN"
        with (
            psycopg.connect(database.url) as connection,
            connection.cursor() as cursor,
            cursor.copy(copy_sql) as copy,
        ):
            for row in _events(EVENTS):
                copy.write_row(row)
        generated = time.perf_counter() - started
        with app.app_context():
            anchors.write_anchors()
            db.session.rollback()
            timings = []
            for _ in range(3):
                started = time.perf_counter()
                report = verify.verify()
                timings.append(time.perf_counter() - started)
                db.session.rollback()
                assert report.ok and report.events == EVENTS, [str(f) for f in report.findings]
            # The baseline: reading the same rows with no hashing at all.
            started = time.perf_counter()
            seen = 0
            query = (
                db.select(*verify._columns())
                .order_by(db.text("chain, seq"))
                .execution_options(yield_per=verify.BATCH)
            )
            for partition in db.session.execute(query).partitions(verify.BATCH):
                seen += len(partition)
            read_only = time.perf_counter() - started
            db.session.remove()
            db.engine.dispose()
    median = statistics.median(timings)
    print(
        f"\naudit verify: {EVENTS} events in {CHAINS} chains generated and copied in {generated:.1f} s; "
        f"verified in median {median:.1f} s = {EVENTS / median:,.0f} events/s "
        f"(runs {', '.join(f'{t:.1f}' for t in timings)}); reading the same rows without hashing "
        f"{read_only:.1f} s ({read_only / median:.2f} of verify)"
    )
    assert seen == EVENTS
    assert median < 60
