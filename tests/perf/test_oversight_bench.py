"""Oversight at council scale (DESIGN.md §8 and the review issue), on PostgreSQL.

250,000 children and 2,500,000 visits are generated with set-based SQL; the app runs under
gunicorn (one worker) and is asked, over HTTP on one kept-alive connection:
- the overdue list's first page for a team (a supervisor, 20 teams in turn): p95 < 50 ms;
- the overdue list's first page service-wide (the manager): p95 < 300 ms;
- the summary service-wide: < 1 s;
- the chronology of a child with 500 visits: < 50 ms.
The same-run baseline is ``/readyz`` (one database round trip through the same stack). The
query plans the overdue list relies on are printed with EXPLAIN (ANALYZE, BUFFERS).

    make bench            # or: .venv/bin/python -m pytest -o addopts="" tests/perf -s -k oversight
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import time
import uuid
from datetime import date

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql

from service import create_app
from service.auth.models import User
from service.extensions import db
from service.oversight.operations import _overdue_entries, overdue_query
from tests.perf.harness import PostgresDatabase, prepare_database
from tests.perf.oversight_data import TEAMS, generate
from tests.served import Gunicorn

CHILDREN = int(os.environ.get("BENCH_CHILDREN", "250000"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "60"))


class Client:
    """One kept-alive HTTP connection; ``get`` returns (status, body, seconds)."""

    def __init__(self, base_url: str) -> None:
        self.connection = http.client.HTTPConnection(base_url.removeprefix("http://"), timeout=60)

    def request(self, method, path, body=None, token=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        self.connection.request(
            method, path, body=json.dumps(body) if body is not None else None, headers=headers
        )
        response = self.connection.getresponse()
        payload = response.read()
        return response.status, json.loads(payload), time.perf_counter() - started

    def sign_in(self, username):
        status, body, _ = self.request(
            "POST", "/api/v1/auth/token", {"username": username, "password": "bench"}
        )
        assert status == 200, body
        return body["access_token"]


def percentiles(samples):
    p95 = statistics.quantiles(samples, n=20, method="inclusive")[-1]
    return statistics.median(samples) * 1000, p95 * 1000


def explain(database_url, settings):
    """EXPLAIN ANALYZE of the overdue page and its count, for a supervisor and the manager."""
    import psycopg

    app = create_app(settings)
    plans = {}
    with app.app_context():
        for label, username in (
            ("team (supervisor1)", "supervisor1"),
            ("service-wide (manager)", "manager"),
        ):
            user = db.session.scalar(select(User).where(User.username == username))
            query = overdue_query(user, {}, date.today())
            page = query.limit(50)
            count = _overdue_entries(user, {}, date.today(), func.count())
            for kind, statement in (("page", page), ("count", count)):
                sql = str(
                    statement.compile(
                        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
                    )
                )
                with psycopg.connect(database_url) as connection:
                    rows = connection.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").fetchall()
                plans[f"{label} {kind}"] = "\n".join(row[0] for row in rows)
        db.session.remove()
        db.engine.dispose()
    return plans


def test_oversight_at_scale():
    with PostgresDatabase() as database:
        settings = {"SQLALCHEMY_DATABASE_URI": database.sqlalchemy_url}
        prepare_database(settings, lambda: None)
        started = time.perf_counter()
        print(f"\ngenerating {CHILDREN:,} children and {CHILDREN * 10:,} visits:")
        generate(
            database.url, CHILDREN, PasswordHasher(time_cost=1, memory_cost=1024).hash("bench")
        )
        generated_in = time.perf_counter() - started
        counts = {
            table: database.count(table) for table in ("children", "visits", "visit_children")
        }
        print(f"  generated in {generated_in:.0f} s: {counts}")
        env = {
            "DATABASE_URL": database.url,
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST_KIB": "1024",
            "LOGIN_RATE_LIMIT": "1000 per minute",
        }
        with Gunicorn(env, workers=1, timeout=900) as app:
            client = Client(app.url)
            supervisors = [client.sign_in(f"supervisor{team}") for team in range(1, TEAMS + 1)]
            manager = client.sign_in("manager")
            big_child = uuid.UUID(bytes=__import__("hashlib").md5(b"child1").digest())
            timings = {
                "baseline /readyz": [],
                "overdue, team": [],
                "overdue, service-wide": [],
                "summary, service-wide": [],
                "chronology, 500 visits": [],
            }
            for i in range(REQUESTS):
                status, _, seconds = client.request("GET", "/readyz")
                timings["baseline /readyz"].append(seconds)
                status, rows, seconds = client.request(
                    "GET", "/api/v1/oversight/overdue", token=supervisors[i % TEAMS]
                )
                assert status == 200 and len(rows) == 50, rows
                timings["overdue, team"].append(seconds)
                status, rows, seconds = client.request(
                    "GET", "/api/v1/oversight/overdue", token=manager
                )
                assert status == 200 and len(rows) == 50
                timings["overdue, service-wide"].append(seconds)
                status, entries, seconds = client.request(
                    "GET", f"/api/v1/children/{big_child}/chronology", token=manager
                )
                assert status == 200 and len(entries) >= 500, status
                timings["chronology, 500 visits"].append(seconds)
                if i % 6 == 0:
                    status, summary, seconds = client.request(
                        "GET", "/api/v1/oversight/summary", token=manager
                    )
                    assert status == 200 and summary["total"]["children"] == CHILDREN
                    timings["summary, service-wide"].append(seconds)
        plans = explain(database.url, settings)
    baseline = percentiles(timings["baseline /readyz"])
    print(f"\n{'request':<26}{'median ms':>10}{'p95 ms':>9}{'p95 / baseline p95':>20}")
    results = {}
    for name, samples in timings.items():
        median, p95 = percentiles(samples)
        results[name] = p95
        print(
            f"{name:<26}{median:>10.1f}{p95:>9.1f}{p95 / baseline[1]:>20.1f}   (n={len(samples)})"
        )
    for label, plan in plans.items():
        print(f"\nEXPLAIN ANALYZE: overdue {label}\n{plan}")
    assert results["overdue, team"] < 50
    assert results["overdue, service-wide"] < 300
    assert results["summary, service-wide"] < 1000
    assert results["chronology, 500 visits"] < 50
