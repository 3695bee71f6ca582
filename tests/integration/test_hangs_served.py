"""Issue #13: a database that accepts connections and never answers, under gunicorn.

PostgreSQL sits behind a pausable TCP proxy (tests/tcp_proxy.py); paused, it forwards nothing,
as a stopped server or a silent network would. The served app must answer 503 with
``Retry-After`` within a few ``DATABASE_TIMEOUT_SECONDS``, far inside gunicorn's worker
timeout (which would otherwise kill the worker and leave the client with a dropped connection),
and recover by itself once the database answers again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import make_url

from tests.conftest import fresh_postgres_database
from tests.factories import make_user
from tests.served import Caller, Reply, Request, ServedApp, served_app
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres

DATABASE_TIMEOUT = 2
GUNICORN_TIMEOUT = 30
# A pooled connection's ping (one timeout), then a new connection (connect_timeout), then 503.
WORST_CASE = 2 * DATABASE_TIMEOUT + 1.5


@dataclass
class Proxied:
    proxy: TcpProxy
    served: ServedApp
    caller: Caller


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    workdir = tmp_path_factory.mktemp("hangs")
    with fresh_postgres_database() as url:
        direct = make_url(url)
        with TcpProxy(direct.host or "127.0.0.1", direct.port or 5432) as proxy:
            via = direct.set(host="127.0.0.1", port=proxy.port)
            with served_app(
                via.render_as_string(hide_password=False),
                workdir,
                workers=1,
                threads=4,
                timeout=GUNICORN_TIMEOUT,
                env={"DATABASE_TIMEOUT_SECONDS": str(DATABASE_TIMEOUT)},
            ) as served:
                username = served.seed(lambda: make_user("supervisor").username)
                yield Proxied(proxy, served, served.api.sign_in(username))


def timed(call) -> tuple[Reply, float]:
    started = time.monotonic()
    reply = call()
    return reply, time.monotonic() - started


def assert_database_unavailable(reply: Reply, served: ServedApp) -> None:
    assert reply.status == 503, f"{reply.status} {reply.json}\n{served.log()}"
    assert reply.code == "service.database_unavailable"
    assert int(reply.headers["retry-after"]) > 0


def test_a_hung_database_is_503_with_retry_after_well_before_the_worker_timeout(proxied):
    caller, served = proxied.caller, proxied.served
    assert caller.get("/me").status == 200
    proxied.proxy.pause()
    try:
        reply, took = timed(lambda: caller.get("/me"))
        assert_database_unavailable(reply, served)
        print(f"measured: database hung, GET /me -> 503 in {took:.2f} s")
        assert took < WORST_CASE, took
        # A sign-in (a write) fares the same, on a new connection that never gets an answer.
        reply, took = timed(
            lambda: served.api.send(
                Request("POST", "/api/v1/auth/token", json={"username": "x", "password": "y"})
            )
        )
        assert_database_unavailable(reply, served)
        print(f"measured: database hung, POST /auth/token -> 503 in {took:.2f} s")
        assert took < WORST_CASE, took
    finally:
        proxied.proxy.resume()
    # The hung connections were dropped, not returned to the pool: the next request works.
    reply = caller.get("/me")
    assert reply.status == 200, f"{reply.json}\n{served.log()}"


def test_readyz_answers_within_2_s_while_the_database_hangs(proxied):
    served = proxied.served
    ready = served.api.send(Request("GET", "/readyz"))
    assert ready.status == 200 and ready.json["checks"]["database"] == "ok"
    proxied.proxy.pause()
    try:
        for _ in range(3):
            reply, took = timed(lambda: served.api.send(Request("GET", "/readyz")))
            print(f"measured: database hung, GET /readyz -> {reply.status} in {took:.2f} s")
            assert took < 2, took
            assert reply.status == 503 and int(reply.headers["retry-after"]) > 0
            assert reply.json["checks"] == {"database": "unavailable", "evidence_store": "ok"}
    finally:
        proxied.proxy.resume()
    deadline = time.monotonic() + 3 * DATABASE_TIMEOUT
    while served.api.send(Request("GET", "/readyz")).status != 200:
        assert time.monotonic() < deadline, served.log()
        time.sleep(0.2)
