"""What the shared sign-in limits cost, and how a sign-in fares when Redis is down or hung.

One gunicorn instance (1 worker, 2 threads) on PostgreSQL; 60 failed sign-ins of unknown
usernames, one at a time, for each store: ``memory://``, the Redis on 127.0.0.1, a port where
nothing listens (down) and a server that accepts and never answers (hung). Prints the first
sign-in's time and the median and p95 of the rest. Argon2 is at the tests' fast settings, so
the figures are the limits' cost, not password hashing's.

Run: ``make bench`` or ``.venv/bin/python -m pytest -o addopts="" -p no:cacheprovider -s
tests/perf/test_sign_in_limits_bench.py``.
"""

from __future__ import annotations

import statistics
import time

from tests.conftest import fresh_postgres_database
from tests.s3server import free_port
from tests.served import Request
from tests.shared_limits import (
    REDIS_URL,
    SilentServer,
    fresh_prefix,
    instances,
    redis_or_skip,
    wrong_password,
)

ATTEMPTS = 60


def timed_sign_ins(api) -> list[float]:
    took = []
    for attempt in range(ATTEMPTS):
        started = time.perf_counter()
        reply = api.send(Request("POST", "/api/v1/auth/token", json=wrong_password(f"u{attempt}")))
        took.append((time.perf_counter() - started) * 1000)
        assert reply.status == 401, reply.json
    return took


def test_sign_in_with_each_limit_store(tmp_path):
    client = redis_or_skip()
    silent = SilentServer()
    prefix = fresh_prefix()
    stores = {
        "memory://": "memory://",
        "redis": REDIS_URL,
        "redis down": f"redis://127.0.0.1:{free_port()}/5",
        "redis hung": f"redis://127.0.0.1:{silent.port}/5",
    }
    rows = []
    try:
        with fresh_postgres_database() as url:
            for name, uri in stores.items():
                settings = {
                    "RATELIMIT_STORAGE_URI": uri,
                    "RATELIMIT_KEY_PREFIX": prefix,
                    "LOGIN_RATE_LIMIT": "1000 per minute",
                    "LOGIN_ACCOUNT_RATE_LIMIT": "1000 per minute",
                }
                workdir = tmp_path / name.replace(" ", "-").replace(":", "").replace("/", "")
                with instances(url, workdir, settings, count=1) as served:
                    took = timed_sign_ins(served.apis[0])
                rest = sorted(took[1:])
                rows.append(
                    (
                        name,
                        took[0],
                        statistics.median(rest),
                        rest[int(len(rest) * 0.95) - 1],
                        max(rest),
                    )
                )
    finally:
        silent.close()
        keys = client.keys(f"{prefix}:*")
        if keys:
            client.delete(*keys)
    print("\nstore        first ms  median ms  p95 ms  max ms")
    for name, first, median, p95, worst in rows:
        print(f"{name:<12} {first:8.1f} {median:10.1f} {p95:7.1f} {worst:7.1f}")
