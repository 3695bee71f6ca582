"""Mixed load (issue #13): tablets syncing at 5 pm while supervisors approve, on PostgreSQL and S3.

N simulated tablets (``BENCH_TABLETS``, default 50; 200 is the large run) each sign in with their
device id and, round after round, pull their caseload and the changes since their cursor,
re-submit what a supervisor returned, record a visit through sync, upload its photo and submit
it (``tests/perf/mixed_load.py`` describes each step). One supervisor per team of ten workers
reads the review queue and the overdue list, opens each waiting visit and its photo and approves
it (one in ten is returned). Every simulated person is a thread with its own HTTP session; none
waits between requests (a closed loop: the server is kept saturated), and the tablets' first
sign-ins are spread over ``BENCH_RAMP_SECONDS``.

The app runs as ``make run`` serves it: gunicorn sync workers (``BENCH_MIXED_WORKERS``, default
4; ``BENCH_MIXED_THREADS`` above 1 makes them gthread workers with that many threads each),
``--timeout 90``, production password hashing, on a fresh PostgreSQL database, evidence in an
S3 server (``tests/s3server.py``). The only setting changed is the sign-in limit per address,
since every simulated tablet comes from 127.0.0.1.

Reports per endpoint (templated path): count, requests/s, p50/p95/p99, 409/412 conflicts and
errors, as a table and as JSON (in the test's tmp dir, or ``BENCH_MIXED_JSON``). Fails on any
5xx, any other unexpected status, any rejected or conflicting sync item, a traceback in the
server's log, or evidence rows and stored objects that do not match one to one.

    make bench   # or: BENCH_TABLETS=200 .venv/bin/python -m pytest -o addopts="" -p no:cacheprovider -s tests/perf -k mixed
"""

from __future__ import annotations

import json
import os
import time
from functools import partial
from pathlib import Path

from tests.perf.harness import PostgresDatabase, prepare_database
from tests.perf.mixed_load import Tablet, Tally, build_council, run_people, supervisor_loop, table
from tests.s3server import S3Server
from tests.served import Gunicorn

TABLETS = int(os.environ.get("BENCH_TABLETS", "50"))
SECONDS = float(os.environ.get("BENCH_MIXED_SECONDS", "60"))
ROUNDS = int(os.environ.get("BENCH_MIXED_ROUNDS", "0"))  # per tablet; 0: until time is up
RAMP = float(os.environ.get("BENCH_RAMP_SECONDS", "10"))
WORKERS = int(os.environ.get("BENCH_MIXED_WORKERS", "4"))
# 1: sync workers, as `make run` serves; more: gthread workers with this many threads each.
THREADS = int(os.environ.get("BENCH_MIXED_THREADS", "1"))
SERVING = f"{WORKERS} sync workers" if THREADS == 1 else f"{WORKERS} gthread x {THREADS} threads"
ALONE_ROUNDS = 5  # the same-run baseline: one tablet's rounds with nothing else running
# The scratch database's name prefix (it is dropped afterwards), for a shared PostgreSQL server.

BUCKET = "mixed-bench"
PREFIX = "evidence"


def evidence_env(server: S3Server, bucket: str) -> dict[str, str]:
    """The served app's evidence settings for ``server``: its own ``env()`` (endpoint and the
    keys it checks) where the harness has one (SeaweedFS), else the keys a mock accepts.
    """
    store = {"EVIDENCE_STORE": f"s3://{bucket}/{PREFIX}"}
    if hasattr(server, "env"):
        return {**server.env(), **store}
    return {
        **store,
        "S3_ENDPOINT_URL": server.url,
        "S3_ADDRESSING_STYLE": "path",
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    }


def stored_objects(server: S3Server, bucket: str) -> int:
    """How many objects the evidence prefix holds."""
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX)
    return sum(len(page.get("Contents", [])) for page in pages)


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU time so far (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by the gunicorn workers, the S3 server and the database's backends."""

    def __init__(self, app: Gunicorn, s3: S3Server, database: PostgresDatabase) -> None:
        self.app, self.s3, self.database = app, s3, database
        self.start = self.read()

    def pids(self) -> dict[str, list[int]]:
        import psycopg

        with psycopg.connect(self.database.admin_url, autocommit=True) as admin:
            backends = [
                int(row[0])
                for row in admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.database.name,)
                )
            ]
        s3_process = getattr(self.s3, "process", None)
        return {
            "app": self.app.worker_pids(),
            "s3": [s3_process.pid] if s3_process is not None else [],
            "postgres": backends,
        }

    def read(self) -> dict[str, dict[int, float]]:
        return {part: {pid: cpu_seconds(pid) for pid in pids} for part, pids in self.pids().items()}

    def used(self) -> dict[str, float]:
        """Seconds of CPU each part used since this meter was made."""
        now = self.read()
        return {
            part: round(
                sum(seconds - self.start[part].get(pid, 0.0) for pid, seconds in now[part].items()),
                1,
            )
            for part in now
        }


def test_mixed_load(tmp_path: Path) -> None:
    assert 1 <= TABLETS <= 1000, "BENCH_TABLETS: 50 to 200 is the intended range"
    server = S3Server().start()
    try:
        server.create_bucket(BUCKET)
        with PostgresDatabase() as database:
            env = {
                "DATABASE_URL": database.url,
                "SECRET_KEY": "mixed-bench-secret-" + "x" * 32,
                # Every simulated tablet signs in from 127.0.0.1; in the field each has its own.
                "LOGIN_RATE_LIMIT": "100000 per minute",
                **evidence_env(server, BUCKET),
            }
            started = time.perf_counter()
            council = prepare_database(
                {"SQLALCHEMY_DATABASE_URI": database.sqlalchemy_url},
                lambda: build_council(TABLETS),
            )
            seeded = time.perf_counter() - started
            log_path = tmp_path / "gunicorn.log"
            with Gunicorn(
                env,
                workers=WORKERS,
                worker_class="sync" if THREADS == 1 else "gthread",
                threads=THREADS,
                timeout=90,
                log_path=log_path,
            ) as app:
                # Alone first: one tablet's rounds and one supervisor's pass, nothing else running.
                alone = Tally()
                solo = Tablet(app.url, council.workers[0], len(council.workers), alone)
                solo.run(start_at=0, stop_at=time.monotonic() + 60, rounds=ALONE_ROUNDS)
                supervisor_loop(
                    app.url, council.supervisors[0], alone, start_at=0,
                    stop_at=time.monotonic() + 5,
                )  # fmt: skip
                tally = Tally()
                begin = time.monotonic() + 1
                stop_at = begin + SECONDS
                jobs = [
                    partial(
                        Tablet(app.url, username, number, tally).run,
                        start_at=begin + RAMP * number / len(council.workers),
                        stop_at=stop_at,
                        rounds=ROUNDS,
                    )
                    for number, username in enumerate(council.workers)
                ]
                jobs += [
                    partial(supervisor_loop, app.url, name, tally, start_at=begin, stop_at=stop_at)
                    for name in council.supervisors
                ]
                meter = CpuMeter(app, server, database)
                client_cpu = time.process_time()
                load_before = os.getloadavg()[0]
                run_people(jobs)
                end = time.monotonic()
                elapsed = end - begin
                load_after = os.getloadavg()[0]
                client_cpu = time.process_time() - client_cpu
                cpu = meter.used()
                log = log_path.read_text(errors="replace")
            rows = {
                table_name: database.count(table_name)
                for table_name in ("visits", "visit_versions", "attachments", "reviews")
            }
        objects = stored_objects(server, BUCKET)
    finally:
        server.stop()

    report = tally.report(elapsed)
    alone_report = alone.report(1.0)
    for endpoint, row in report["endpoints"].items():
        row["alone_p50_ms"] = alone_report["endpoints"].get(endpoint, {}).get("p50_ms")
    report["alone"] = alone_report["endpoints"]
    # The same, leaving out the sign-in storm: requests started once everyone held a token.
    everyone_in = max(tally.signed_in) if len(tally.signed_in) == len(jobs) else end
    steady = tally.report(end - everyone_in, since=everyone_in) if end - everyone_in > 5 else None
    report["after_sign_in"] = steady
    for endpoint, row in (steady or {"endpoints": {}})["endpoints"].items():
        row["alone_p50_ms"] = alone_report["endpoints"].get(endpoint, {}).get("p50_ms")
    report["setup"] = {
        "tablets": TABLETS,
        "supervisors": len(council.supervisors),
        "children": council.children,
        "gunicorn": f"{SERVING}, --timeout 90",
        "ramp_seconds": RAMP,
        "seed_seconds": round(seeded, 1),
        "cpu_seconds": {**cpu, "simulated_clients": round(client_cpu, 1)},
        "load_average_1min": [round(load_before, 1), round(load_after, 1)],
        "rows": rows,
        "stored_objects": objects,
    }
    out = Path(os.environ.get("BENCH_MIXED_JSON") or tmp_path / "mixed-load.json")
    out.write_text(json.dumps(report, indent=2))
    print(
        f"\nmixed load: {TABLETS} tablets, {len(council.supervisors)} supervisors, "
        f"{council.children} children, gunicorn {SERVING}, {elapsed:.0f} s "
        f"(seeded in {seeded:.0f} s); CPU seconds used: {report['setup']['cpu_seconds']}; "
        f"load average {load_before:.1f} -> {load_after:.1f}\n"
        f"{table(report)}\n"
        + (
            f"after everyone had signed in ({everyone_in - begin:.0f} s in, "
            f"{end - everyone_in:.0f} s):\n{table(steady)}\n"
            if steady
            else "(the sign-ins took the whole run)\n"
        )
        + f"events: {report['events']}\n"
        f"rows: {rows}, stored objects: {objects}\nJSON: {out}"
    )
    for problem in tally.problems[:10]:
        print(f"  {problem.endpoint}: {problem.status} {problem.detail}")

    assert report["total"]["server_errors"] == 0, tally.problems[:5]
    assert report["total"]["errors"] == 0, tally.problems[:5]
    assert not tally.problems, tally.problems[:5]
    assert "Traceback" not in log and "WORKER TIMEOUT" not in log, log[-3000:]
    assert report["events"].get("visits submitted", 0) > 0
    # Rows in the database against what the tablets and supervisors were told (both phases).
    told = {
        event: alone.events.get(event, 0) + tally.events.get(event, 0)
        for event in ("photos uploaded", "visits approved", "returned")
    }
    assert rows["attachments"] == told["photos uploaded"]
    assert objects == rows["attachments"], "every evidence row has its object and no more"
    assert rows["reviews"] == told["visits approved"] + told["returned"]
