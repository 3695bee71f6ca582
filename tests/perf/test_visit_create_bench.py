"""Visit create under load (DESIGN.md §8): ours against a bare Flask endpoint doing the same
writes, and against a bare single INSERT, in the same run.

All three run under gunicorn with the same worker class and count on the same PostgreSQL,
loaded by wrk (C) with the same JSON body:

- ``PUT /visits/{id}`` (ours) signs the caller in (the session is checked in the database, so a
  revoked tablet is refused at once), validates, checks scope and the case's children, stores
  the visit and its children and writes one chained audit event per child;
- ``tests/perf/bare_create_app.py`` does the same writes in one transaction and nothing else:
  the baseline the design's bar (at least half of it) is measured against;
- ``tests/perf/bare_insert_app.py`` inserts the body as one row: the floor, for comparison.

Each round runs the three one after another, in an order that rotates from round to round
(the tables grow, so whoever goes last runs on the most rows), each on a fresh gunicorn warmed
by a short wrk run first; the medians over rounds are compared. Create + submit pairs on a
fresh, unwarmed server are reported too.

wrk counts a response slower than its ``--timeout`` (2 s unless told) as a "timeout" error and
leaves it out of the latency figures, even when it was a 201: a slow success is not a failure,
so the timeout is ``BENCH_WRK_TIMEOUT`` (20 s), and the slowest response is reported instead.

    make bench            # or: .venv/bin/python -m pytest -o addopts="" tests/perf -s -k create

Settings: ``BENCH_ROUNDS`` (5), ``BENCH_SECONDS`` (10), ``BENCH_WARMUP`` (2 s; 0 for none),
``BENCH_WORKERS`` (2), ``BENCH_WORKER_CLASS`` (gthread) and ``BENCH_THREADS`` (4),
``BENCH_CONNECTIONS`` (16), ``BENCH_WRK_TIMEOUT`` (20s), ``BENCH_DB_PREFIX``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from service.cases.models import Case
from service.extensions import db
from tests.factories import PASSWORD, make_case, make_team, make_user, visit_body
from tests.perf.harness import (
    PostgresDatabase,
    cpu_seconds,
    post_json,
    prepare_database,
    process_tree,
)
from tests.served import Gunicorn

# `make run`'s set-up: 2 gthread workers x 4 threads (chosen by test_serving_stacks below).
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
WORKER_CLASS = os.environ.get("BENCH_WORKER_CLASS", "gthread")
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "2"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
WRK_TIMEOUT = os.environ.get("BENCH_WRK_TIMEOUT", "20s")
SCRIPTS = Path(__file__).parent / "wrk"
RESULT = re.compile(
    r"RESULT requests=(\d+) non2xx=(\d+) errors=(\d+) rps=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+)"
    r"(?: connect=(\d+) read=(\d+) write=(\d+) timeout=(\d+) max_ms=([\d.]+))?"
)
OURS = "PUT /visits (ours)"
SAME_WRITES = "bare, same writes"
ONE_INSERT = "bare, one INSERT"


def wrk(url, script, env, threads=2, connections=CONNECTIONS, seconds=SECONDS):
    """Run wrk with a script from ``tests/perf/wrk``; its RESULT line as numbers.

    ``failed`` counts responses of 400 and above and socket errors, including responses
    slower than ``BENCH_WRK_TIMEOUT``; ``unexpected`` lists the first statuses the script did
    not expect.
    """
    output = subprocess.run(  # noqa: S603
        [
            shutil.which("wrk") or "/usr/bin/wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            f"--timeout={WRK_TIMEOUT}",
            "-s",
            str(SCRIPTS / script),
            url,
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=True,
    ).stdout
    match = RESULT.search(output)
    assert match, output
    requests, non2xx, errors, rps, p50, p99, connect, read, write, timeout, most = match.groups()
    unexpected = re.search(r"UNEXPECTED (.*)", output)
    return {
        "requests": int(requests),
        "failed": int(non2xx) + int(errors),
        "timeouts": int(timeout or 0),
        "socket_errors": sum(int(n or 0) for n in (connect, read, write)),
        "unexpected": unexpected.group(1).strip() if unexpected else "",
        "rps": float(rps),
        "p50": float(p50),
        "p99": float(p99),
        "max": float(most or 0),
    }


def _seed(settings):
    def build():
        team = make_team()
        worker = make_user("social_worker", [team])
        case = make_case(team, worker, 2)
        body = visit_body(db.session.get(Case, case.id))
        return worker.username, str(worker.id), str(team.id), body

    return prepare_database(settings, build)


def _token(url, username):
    status, tokens = post_json(
        url, "/api/v1/auth/token", {"username": username, "password": PASSWORD}
    )
    assert status == 200, tokens
    return tokens["access_token"]


class Server:
    """One of the three servers: its gunicorn app and how wrk calls it."""

    def __init__(self, name, app, env, prefix, username=None):
        self.name = name
        self.app = app
        self.env = env
        self.prefix = prefix
        self.username = username

    def serve(self, log_path):
        return Gunicorn(
            self.env,
            workers=WORKERS,
            worker_class=WORKER_CLASS,
            threads=THREADS,
            timeout=900,
            app=self.app,
            log_path=log_path,
        )

    def load(self, url, body_json, served=None, database=None):
        """A warm-up run, then the measured one; given the server and the database, with the
        CPU time its processes and the database's server processes spent per request.
        """
        env = {"WRK_BODY": body_json, "WRK_PREFIX": self.prefix}
        if self.username:
            env["WRK_TOKEN"] = _token(url, self.username)
        if WARMUP:
            wrk(url, "put.lua", env, seconds=WARMUP)
        if served is None or database is None:
            return wrk(url, "put.lua", env)
        app_pids = process_tree(served.process.pid)
        before_db = {pid: cpu_seconds(pid) for pid in database.backend_pids()}
        before_app = {pid: cpu_seconds(pid) for pid in app_pids}
        run = wrk(url, "put.lua", env)
        app = sum(cpu_seconds(pid) - seconds for pid, seconds in before_app.items())
        # A connection opened during the run counts from its start.
        after_db = {pid: cpu_seconds(pid) for pid in database.backend_pids() | set(before_db)}
        database_cpu = sum(seconds - before_db.get(pid, 0.0) for pid, seconds in after_db.items())
        requests = max(run["requests"], 1)
        run["app_cpu_ms"] = app * 1000 / requests
        run["db_cpu_ms"] = database_cpu * 1000 / requests
        return run


def _report(results: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    print(
        f"\n{WORKERS} gunicorn {WORKER_CLASS} workers x {THREADS} threads, wrk {CONNECTIONS} "
        f"connections (timeout {WRK_TIMEOUT}), {SECONDS} s rounds x{ROUNDS} after {WARMUP} s warm-ups"
    )
    medians = {}
    for name, runs in results.items():
        medians[name] = statistics.median(run["rps"] for run in runs)
        rounds = ", ".join(f"{run['rps']:.0f}" for run in runs)
        print(
            f"{name:<20} median {medians[name]:7.1f} req/s (rounds {rounds}); "
            f"p50 {statistics.median(r['p50'] for r in runs):.1f} ms, "
            f"p99 {statistics.median(r['p99'] for r in runs):.1f} ms, "
            f"max {max(r['max'] for r in runs):.0f} ms; "
            f"requests {sum(r['requests'] for r in runs)}, failed {sum(r['failed'] for r in runs)}"
            + "".join(f" [{r['unexpected']}]" for r in runs if r["unexpected"])
        )
    # Each round's own ratio too: the machine's load moves all three together within a round.
    per_round = [
        ours["rps"] / same["rps"]
        for ours, same in zip(results[OURS], results[SAME_WRITES], strict=True)
    ]
    print(
        f"ratio ours / same writes: {medians[OURS] / medians[SAME_WRITES]:.2f} "
        f"(per round {', '.join(f'{r:.2f}' for r in per_round)}; target >= 0.5)"
    )
    print(f"ratio ours / one INSERT: {medians[OURS] / medians[ONE_INSERT]:.2f}")
    _report_cpu(results)
    return medians


def _report_cpu(results: dict[str, list[dict[str, Any]]]) -> None:
    """CPU per request, the figure the machine's other jobs move least: what throughput on an
    otherwise idle machine is bound by, once the cores are the bottleneck.
    """
    if any("app_cpu_ms" not in run for runs in results.values() for run in runs):
        return
    total = {}
    for name, runs in results.items():
        app = statistics.median(run["app_cpu_ms"] for run in runs)
        database = statistics.median(run["db_cpu_ms"] for run in runs)
        total[name] = app + database
        print(
            f"{name:<20} CPU per request (medians): gunicorn {app:.2f} ms + PostgreSQL "
            f"{database:.2f} ms = {total[name]:.2f} ms"
        )
    print(
        f"CPU ratio same writes / ours: {total[SAME_WRITES] / total[OURS]:.2f} "
        "(the throughput ratio where CPU alone bounds both; wrk's own CPU not counted)"
    )


def test_visit_create_throughput(tmp_path):
    with PostgresDatabase() as database:
        settings = {
            "SQLALCHEMY_DATABASE_URI": database.sqlalchemy_url,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST_KIB": 1024,
        }
        username, worker_id, team_id, body = _seed(settings)
        body_json = json.dumps(body)
        env = {
            "DATABASE_URL": database.url,
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST_KIB": "1024",
            "JWT_ACCESS_TTL_SECONDS": "3600",
        }
        bare_env = {
            "BARE_DATABASE_URL": database.sqlalchemy_url,
            "BARE_WORKER_ID": worker_id,
            "BARE_TEAM_ID": team_id,
        }
        servers = [
            Server(OURS, "wsgi:app", env, "/api/v1/visits/", username),
            Server(SAME_WRITES, "tests.perf.bare_create_app:app", bare_env, "/visits/"),
            Server(ONE_INSERT, "tests.perf.bare_insert_app:app", bare_env, "/rows/"),
        ]
        results: dict[str, list[dict[str, Any]]] = {server.name: [] for server in servers}
        for round_ in range(ROUNDS):
            order = servers[round_ % 3 :] + servers[: round_ % 3]
            for server in order:
                with server.serve(tmp_path / "gunicorn.log") as served:
                    run = server.load(served.url, body_json, served, database)
                    if run["failed"]:
                        print(f"\n{server.name} failed {run}; its log ends:\n{served.log()}")
                    results[server.name].append(run)
        # Pairs on a fresh server, with no warm-up: the first requests of each worker count.
        with servers[0].serve(tmp_path / "gunicorn.log") as served:
            pairs = wrk(
                served.url,
                "put_submit.lua",
                {"WRK_BODY": body_json, "WRK_TOKEN": _token(served.url, username)},
                threads=8,
                connections=8,
            )
        visits = database.count("visits")
    medians = _report(results)
    print(
        f"create + submit pairs (8 connections, fresh workers): {pairs['rps']:.1f} req/s = "
        f"{pairs['rps'] / 2:.1f} visits/s submitted, p50 {pairs['p50']:.1f} ms, "
        f"p99 {pairs['p99']:.1f} ms, max {pairs['max']:.0f} ms; requests {pairs['requests']}, "
        f"failed {pairs['failed']} {pairs['unexpected']}; visits stored in all: {visits}"
    )
    assert all(run["failed"] == 0 for runs in results.values() for run in runs)
    assert pairs["failed"] == 0
    assert medians[OURS] / medians[SAME_WRITES] >= 0.5


class Granian(Gunicorn):
    """The same app under granian (Rust HTTP server, WSGI interface), from the perf extra."""

    def command(self):
        return [
            shutil.which("granian", path=str(Path(sys.executable).parent)) or "granian",
            "--interface",
            "wsgi",
            "--workers",
            str(self.workers),
            "--blocking-threads",
            str(self.threads),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            self.app,
        ]


# (name, server class, worker class, workers, threads); BENCH_STACKS picks by name.
STACKS = [
    ("gunicorn sync 4x1", Gunicorn, "sync", 4, 1),
    ("gunicorn gthread 2x4", Gunicorn, "gthread", 2, 4),
    ("gunicorn gthread 4x2", Gunicorn, "gthread", 4, 2),
    ("gunicorn gthread 8x1", Gunicorn, "gthread", 8, 1),
    ("granian wsgi 2x4", Granian, "sync", 2, 4),
]


def test_serving_stacks(tmp_path):
    """Ours and the same-writes baseline under each serving stack, same load, interleaved
    rounds: each stack's throughput, CPU per request and ratio.
    """
    wanted = os.environ.get("BENCH_STACKS")
    stacks = [s for s in STACKS if not wanted or s[0] in wanted.split(",")]
    if any(s[1] is Granian for s in stacks) and not shutil.which(
        "granian", path=str(Path(sys.executable).parent)
    ):
        pytest.skip("granian is not installed: pip install -e '.[perf]'")
    with PostgresDatabase() as database:
        settings = {
            "SQLALCHEMY_DATABASE_URI": database.sqlalchemy_url,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST_KIB": 1024,
        }
        username, worker_id, team_id, body = _seed(settings)
        body_json = json.dumps(body)
        env = {
            "DATABASE_URL": database.url,
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST_KIB": "1024",
            "JWT_ACCESS_TTL_SECONDS": "3600",
        }
        bare_env = {
            "BARE_DATABASE_URL": database.sqlalchemy_url,
            "BARE_WORKER_ID": worker_id,
            "BARE_TEAM_ID": team_id,
        }
        apps = [
            Server(OURS, "wsgi:app", env, "/api/v1/visits/", username),
            Server(SAME_WRITES, "tests.perf.bare_create_app:app", bare_env, "/visits/"),
        ]
        results: dict[tuple[str, str], list[dict[str, Any]]] = {
            (name, app.name): [] for name, *_ in stacks for app in apps
        }
        for round_ in range(ROUNDS):
            order = stacks[round_ % len(stacks) :] + stacks[: round_ % len(stacks)]
            for name, server_class, worker_class, workers, threads in order:
                for app in apps if round_ % 2 == 0 else apps[::-1]:
                    with server_class(
                        app.env,
                        workers=workers,
                        worker_class=worker_class,
                        threads=threads,
                        timeout=900,
                        app=app.app,
                        log_path=tmp_path / "server.log",
                    ) as served:
                        run = app.load(served.url, body_json, served, database)
                        results[(name, app.name)].append(run)
    print(f"\nserving stacks, wrk {CONNECTIONS} connections, {SECONDS} s rounds x{ROUNDS}")
    medians = {}
    for (name, app_name), runs in results.items():
        medians[(name, app_name)] = statistics.median(r["rps"] for r in runs)
        rounds = ", ".join(f"{run['rps']:.0f}" for run in runs)
        print(
            f"{name:<22} {app_name:<20} median {medians[(name, app_name)]:7.1f} req/s "
            f"(rounds {rounds}); p50 {statistics.median(r['p50'] for r in runs):.1f} ms, "
            f"p99 {statistics.median(r['p99'] for r in runs):.1f} ms, "
            f"max {max(r['max'] for r in runs):.0f} ms; failed {sum(r['failed'] for r in runs)}; "
            f"CPU per request {statistics.median(r['app_cpu_ms'] + r['db_cpu_ms'] for r in runs):.2f} ms"
        )
    for name, *_ in stacks:
        print(
            f"{name:<22} ratio ours / same writes {medians[(name, OURS)] / medians[(name, SAME_WRITES)]:.2f}"
        )
    assert all(run["failed"] == 0 for runs in results.values() for run in runs)
