"""Visit create in-process: CPU time and Python calls per create, without HTTP or gunicorn.

Steadier than requests per second on a shared machine (it counts this process's CPU only, and
the call count does not depend on the load at all); what the README's "Visit create under
load" quotes beside the wrk figures. Needs PostgreSQL on 127.0.0.1 (a scratch database named
from ``BENCH_DB_PREFIX``, dropped afterwards).

    .venv/bin/python -m tests.perf.create_cpu            # CPU ms per create, 5 blocks, median
    .venv/bin/python -m tests.perf.create_cpu --bare     # the same for bare_create_app
    .venv/bin/python -m tests.perf.create_cpu --profile  # cProfile (process time), top 40
    .venv/bin/python -m tests.perf.create_cpu --paired   # both in one process, ratio per round

``--paired`` runs ours and the bare app in one process, alternating blocks of 25 creates over
24 rounds, and reports the median of each round's ratio (bare / ours): the two meet the same
load within a round, so the ratio moves less than either's CPU. Two trees (before and after a
change) run at the same moment meet the same load too.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from service import create_app
from tests.factories import PASSWORD
from tests.perf.harness import PostgresDatabase
from tests.perf.test_visit_create_bench import _seed

WARM_UP = 30
PAIRED_ROUNDS = 24
PAIRED_BLOCK = 25


def _ours(settings: dict[str, Any], username: str, body: dict[str, Any]) -> Callable[[], None]:
    app = create_app(settings)
    client = app.test_client()
    signed_in = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    headers = {
        "Authorization": f"Bearer {signed_in.get_json()['access_token']}",
        "Content-Type": "application/json",
    }
    data = json.dumps(body)

    def create() -> None:
        response = client.put(f"/api/v1/visits/{uuid.uuid4()}", data=data, headers=headers)
        assert response.status_code == 201, response.get_data(as_text=True)

    return create


def _bare(database: PostgresDatabase, worker_id: str, team_id: str, body: dict[str, Any]):
    os.environ.update(
        BARE_DATABASE_URL=database.sqlalchemy_url, BARE_WORKER_ID=worker_id, BARE_TEAM_ID=team_id
    )
    from tests.perf.bare_create_app import app

    client = app.test_client()
    data = json.dumps(body)

    def create() -> None:
        response = client.put(
            f"/visits/{uuid.uuid4()}", data=data, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 201, response.get_data(as_text=True)

    return create


def _cpu_ms_per_create(create: Callable[[], None], creates: int) -> float:
    started = time.process_time()
    for _ in range(creates):
        create()
    return (time.process_time() - started) * 1000 / creates


def _paired(ours: Callable[[], None], bare: Callable[[], None]) -> None:
    for _ in range(WARM_UP):
        ours()
        bare()
    rounds = [
        (_cpu_ms_per_create(ours, PAIRED_BLOCK), _cpu_ms_per_create(bare, PAIRED_BLOCK))
        for _ in range(PAIRED_ROUNDS)
    ]
    print(
        f"paired: ours median {statistics.median(o for o, _ in rounds):.2f} ms, bare median "
        f"{statistics.median(b for _, b in rounds):.2f} ms; median per-round ratio bare / ours "
        f"{statistics.median(b / o for o, b in rounds):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bare", action="store_true", help="bare_create_app instead of ours")
    parser.add_argument("--profile", action="store_true", help="cProfile instead of timing")
    parser.add_argument("--paired", action="store_true", help="ours and bare, alternating")
    parser.add_argument("--creates", type=int, default=300)
    args = parser.parse_args()
    with PostgresDatabase() as database:
        settings = {
            "SQLALCHEMY_DATABASE_URI": database.sqlalchemy_url,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST_KIB": 1024,
            "JWT_ACCESS_TTL_SECONDS": 3600,
        }
        username, worker_id, team_id, body = _seed(settings)
        if args.paired:
            _paired(_ours(settings, username, body), _bare(database, worker_id, team_id, body))
            return
        create = (
            _bare(database, worker_id, team_id, body)
            if args.bare
            else _ours(settings, username, body)
        )
        for _ in range(WARM_UP):
            create()
        if args.profile:
            profile = cProfile.Profile(time.process_time)
            profile.enable()
            for _ in range(args.creates):
                create()
            profile.disable()
            stats = pstats.Stats(profile)
            if os.environ.get("PROFILE_OUT"):  # for pstats' print_callers and the like
                stats.dump_stats(os.environ["PROFILE_OUT"])
            stats.sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(
                int(os.environ.get("PROFILE_LINES", "40"))
            )
            print(f"Python calls per create: {stats.total_calls / args.creates:,.0f}")  # type: ignore[attr-defined]
            return
        blocks = []
        for _ in range(5):
            started = time.process_time()
            for _ in range(args.creates // 5):
                create()
            blocks.append((time.process_time() - started) * 1000 / (args.creates // 5))
        print(
            f"{'bare' if args.bare else 'ours'}: CPU ms per create "
            f"{', '.join(f'{block:.2f}' for block in blocks)}; median {statistics.median(blocks):.2f}"
        )


if __name__ == "__main__":
    main()
