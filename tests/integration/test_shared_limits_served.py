"""Issue #13 part 4: the sign-in limits hold across several instances sharing Redis.

Two gunicorn instances of the app, on one PostgreSQL database and one Redis, are called from
one address (127.0.0.1) in turn: the per-address limit counts the attempts at both. When Redis
is down or hung, signing in stays open (each process counts alone) and answers promptly.
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import fresh_postgres_database
from tests.s3server import free_port
from tests.served import Request
from tests.shared_limits import (
    REDIS_URL,
    SilentServer,
    fresh_prefix,
    instances,
    redis_or_skip,
    right_password,
    wrong_password,
)

pytestmark = pytest.mark.postgres

TOKEN = "/api/v1/auth/token"


def test_the_per_address_limit_holds_across_two_instances(tmp_path):
    client = redis_or_skip()
    prefix = fresh_prefix()
    settings = {
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": prefix,
        "LOGIN_RATE_LIMIT": "5 per minute",
        "LOGIN_ACCOUNT_RATE_LIMIT": "1000 per minute",
    }
    with fresh_postgres_database() as url, instances(url, tmp_path, settings) as served:
        first, second = served.apis
        replies = [
            (first if attempt % 2 == 0 else second).send(
                Request("POST", TOKEN, json=wrong_password(f"someone{attempt}"))
            )
            for attempt in range(6)
        ]
        assert [reply.status for reply in replies] == [401] * 5 + [429], served.log()
        refused = replies[-1]
        assert refused.code == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # Either instance now refuses this address, whichever counted the attempts.
        assert second.send(Request("POST", TOKEN, json=wrong_password("x"))).status == 429
        assert first.send(Request("POST", TOKEN, json=wrong_password("x"))).status == 429
    assert client.keys(f"{prefix}:*"), "the counts live in Redis under the prefix"
    client.delete(*client.keys(f"{prefix}:*"))


def test_an_account_is_throttled_across_two_instances(tmp_path):
    client = redis_or_skip()
    prefix = fresh_prefix()
    settings = {
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": prefix,
        "LOGIN_RATE_LIMIT": "100 per minute",
        "LOGIN_ACCOUNT_RATE_LIMIT": "3 per 15 minutes",
    }
    with fresh_postgres_database() as url, instances(url, tmp_path, settings) as served:
        target, colleague = served.user(), served.user()
        first, second = served.apis
        replies = [
            api.send(Request("POST", TOKEN, json=wrong_password(target)))
            for api in (first, second, first, second)
        ]
        assert [reply.status for reply in replies] == [401, 401, 401, 429], served.log()
        assert replies[-1].code == "auth.account_locked"
        assert first.send(Request("POST", TOKEN, json=right_password(target))).status == 429
        assert second.send(Request("POST", TOKEN, json=right_password(colleague))).status == 200
    client.delete(*client.keys(f"{prefix}:*"))


@pytest.mark.parametrize("outage", ["down", "hung"])
def test_signing_in_stays_open_and_prompt_when_redis_is_down_or_hung(tmp_path, outage):
    silent = SilentServer() if outage == "hung" else None
    port = silent.port if silent else free_port()
    settings = {
        "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{port}/5",
        "RATELIMIT_STORAGE_TIMEOUT_MS": "500",
        "LOGIN_RATE_LIMIT": "3 per minute",
    }
    try:
        with fresh_postgres_database() as url, instances(url, tmp_path, settings, 1) as served:
            username = served.user()
            (api,) = served.apis
            started = time.monotonic()
            signed_in = api.send(Request("POST", TOKEN, json=right_password(username)))
            first_took = time.monotonic() - started
            assert signed_in.status == 200, served.log()
            # A few seconds at most (one timeout per store call), far below gunicorn's 30 s.
            assert first_took < 5
            # The process counts alone now: the limit still holds, answered at once.
            replies = [api.send(Request("POST", TOKEN, json=wrong_password(username)))]
            replies += [api.send(Request("POST", TOKEN, json=wrong_password(username)))]
            started = time.monotonic()
            limited = api.send(Request("POST", TOKEN, json=wrong_password(username)))
            assert time.monotonic() - started < 2
            assert [reply.status for reply in replies] == [401, 401]
            assert limited.status == 429 and limited.headers.get("retry-after")
            assert "falling back to in-memory storage" in served.log()
    finally:
        if silent:
            silent.close()
