"""Visit create under load (DESIGN.md §8), against a bare Flask INSERT in the same run.

Both run under gunicorn with the same worker count on the same PostgreSQL, loaded by wrk (C)
with the same JSON body: the bare endpoint inserts it as one row; ``PUT /visits/{id}`` signs the
caller in, validates, checks scope and the case's children, stores the visit and its children
and writes an audit event. Rounds alternate; medians are compared. Create + submit pairs and
p99 latency are reported too.

    make bench            # or: .venv/bin/python -m pytest -o addopts="" tests/perf -s -k create
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
from pathlib import Path

from service.cases.models import Case
from service.extensions import db
from tests.factories import PASSWORD, make_case, make_team, make_user, visit_body
from tests.perf.harness import PostgresDatabase, post_json, prepare_database
from tests.served import Gunicorn

WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
SCRIPTS = Path(__file__).parent / "wrk"
RESULT = re.compile(
    r"RESULT requests=(\d+) non2xx=(\d+) errors=(\d+) rps=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+)"
)


def wrk(url, script, env, threads=2, connections=CONNECTIONS):
    output = subprocess.run(  # noqa: S603
        [
            shutil.which("wrk") or "/usr/bin/wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{SECONDS}s",
            "-s",
            str(SCRIPTS / script),
            url,
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=SECONDS + 60,
        check=True,
    ).stdout
    match = RESULT.search(output)
    assert match, output
    requests, non2xx, errors, rps, p50, p99 = match.groups()
    return {
        "requests": int(requests),
        "failed": int(non2xx) + int(errors),
        "rps": float(rps),
        "p50": float(p50),
        "p99": float(p99),
    }


def test_visit_create_throughput():
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
        bare_env = {"BARE_DATABASE_URL": database.sqlalchemy_url}
        results = {"bare INSERT": [], "PUT /visits (create)": []}
        for _ in range(ROUNDS):
            with Gunicorn(
                bare_env, workers=WORKERS, timeout=900, app="tests.perf.bare_insert_app:app"
            ) as bare:
                results["bare INSERT"].append(
                    wrk(bare.url, "put.lua", {"WRK_BODY": body_json, "WRK_PREFIX": "/rows/"})
                )
            with Gunicorn(env, workers=WORKERS, timeout=900) as app:
                status, tokens = post_json(
                    app.url, "/api/v1/auth/token", {"username": username, "password": PASSWORD}
                )
                assert status == 200
                token = tokens["access_token"]
                results["PUT /visits (create)"].append(
                    wrk(
                        app.url,
                        "put.lua",
                        {
                            "WRK_BODY": body_json,
                            "WRK_TOKEN": token,
                            "WRK_PREFIX": "/api/v1/visits/",
                        },
                    )
                )
        with Gunicorn(env, workers=WORKERS, timeout=900) as app:
            status, tokens = post_json(
                app.url, "/api/v1/auth/token", {"username": username, "password": PASSWORD}
            )
            pairs = wrk(
                app.url,
                "put_submit.lua",
                {"WRK_BODY": body_json, "WRK_TOKEN": tokens["access_token"]},
                threads=8,
                connections=8,
            )
        visits = database.count("visits")
    print(
        f"\n{WORKERS} gunicorn sync workers, wrk {CONNECTIONS} connections, {SECONDS} s rounds x{ROUNDS}"
    )
    medians = {}
    for name, runs in results.items():
        medians[name] = statistics.median(run["rps"] for run in runs)
        rounds = ", ".join(f"{run['rps']:.0f}" for run in runs)
        print(
            f"{name:<22} median {medians[name]:7.1f} req/s  (rounds {rounds}); "
            f"p99 {statistics.median(r['p99'] for r in runs):.1f} ms; failed {sum(r['failed'] for r in runs)}"
        )
    ratio = medians["PUT /visits (create)"] / medians["bare INSERT"]
    print(f"ratio create / bare: {ratio:.2f} (target >= 0.5)")
    print(
        f"create + submit pairs (8 connections): {pairs['rps']:.1f} req/s = {pairs['rps'] / 2:.1f} visits/s submitted, "
        f"p99 {pairs['p99']:.1f} ms, failed {pairs['failed']}; visits stored in all: {visits}"
    )
    assert (
        all(run["failed"] == 0 for runs in results.values() for run in runs)
        and pairs["failed"] == 0
    )
    assert ratio >= 0.5
