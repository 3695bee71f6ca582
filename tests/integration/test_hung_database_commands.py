"""Issue #13: the outbox worker and the CLI commands against a database that hangs.

PostgreSQL sits behind the pausable TCP proxy (tests/tcp_proxy.py); paused, it accepts
connections and forwards nothing, as a stopped server or a silent network would. The worker
(``flask outbox run``, a process of its own) must notice within ``WORKER_DATABASE_TIMEOUT_SECONDS``,
log it, drop the connection, try again with back-off and carry on once the database answers,
each message stored once by the core system. A one-shot command must stop within
``COMMAND_DATABASE_TIMEOUT_SECONDS`` (per answer) with a one-line message and exit status 1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import make_url, select, text

from service import create_app
from service.audit.models import AuditEvent
from service.core_system.models import OutboxMessage
from service.extensions import db
from tests.conftest import fresh_postgres_database
from tests.coresystem import CoreSystemServer
from tests.factories import FAST_TEST_SETTINGS
from tests.outbox_support import (
    OutboxWorker,
    core_system_settings,
    counts_by_status,
    fill_outbox,
    make_visits,
    wait_for,
)
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
BOUND = 2  # seconds, for the worker, the commands and connecting
SLOW_ANSWER = 3  # seconds the core system takes over the delivery the hang catches


@dataclass
class HungDatabase:
    """A migrated database, reached directly by ``seeder`` and through ``proxy`` at ``via``."""

    direct: str
    via: str
    proxy: TcpProxy
    seeder: Flask

    def run(self, function, *args):
        """Call ``function`` in the seeder's app context (the direct connection) and commit."""
        with self.seeder.app_context():
            try:
                result = function(*args)
                db.session.commit()
                return result
            finally:
                db.session.remove()


@pytest.fixture(scope="module")
def hung(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HungDatabase]:
    evidence = tmp_path_factory.mktemp("evidence")
    with fresh_postgres_database() as url:
        seeder = create_app(
            {
                **FAST_TEST_SETTINGS,
                "SQLALCHEMY_DATABASE_URI": url,
                "EVIDENCE_STORE": f"file://{evidence}",
            }
        )
        with seeder.app_context():
            upgrade()
            db.session.remove()
        direct = make_url(url)
        with TcpProxy(direct.host or "127.0.0.1", direct.port or 5432) as proxy:
            via = direct.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
            try:
                yield HungDatabase(url, via, proxy, seeder)
            finally:
                proxy.resume()
                with seeder.app_context():
                    db.engine.dispose()


def stored_once_in_order(core: CoreSystemServer) -> dict[str, list[int]]:
    stored = defaultdict(list)
    for item in core.received():
        stored[item["visit_id"]].append(item["version"])
    return dict(stored)


def test_the_worker_waits_out_a_hung_database_and_delivers_each_message_once(hung, tmp_path):
    with CoreSystemServer(token_lifetime=300) as core:
        settings = core_system_settings(
            core.url,
            core.token_url,
            WORKER_DATABASE_TIMEOUT_SECONDS=BOUND,
            DATABASE_TIMEOUT_SECONDS=BOUND,
            # Room for the core system's slow answer below (the lease outlasts two of them).
            CORE_SYSTEM_READ_TIMEOUT=5,
            OUTBOX_LEASE_SECONDS=14,
        )
        worker = OutboxWorker(hung.via, settings, tmp_path / "worker.log")
        with worker:
            first = hung.run(make_visits, 3)
            hung.run(fill_outbox, first, 1)
            wait_for(lambda: hung.run(counts_by_status) == {"delivered": 3}, timeout=20)

            # The core system stores the next message, then takes 3 s to answer; meanwhile
            # the database hangs, so the worker cannot mark it delivered.
            core.faults([{"after_store": True, "delay": SLOW_ANSWER, "status": 201}])
            caught = hung.run(make_visits, 1)
            hung.run(fill_outbox, caught, 1)
            wait_for(lambda: len(core.received()) == 4, timeout=10, interval=0.02)
            hung.proxy.pause()
            paused_at = time.monotonic()
            try:
                later = hung.run(make_visits, 3)
                hung.run(fill_outbox, later, 2)  # queued while the database hangs
                wait_for(lambda: "the database is unavailable" in worker.log(), timeout=15)
                noticed = time.monotonic() - paused_at
                print(f"measured: database hung, the worker noticed in {noticed:.1f} s")
                assert noticed < SLOW_ANSWER + BOUND + 3, worker.log()
                wait_for(lambda: "(try 3)" in worker.log(), timeout=30)
                assert worker.process is not None and worker.process.poll() is None
                assert len(core.received()) == 4  # nothing more delivered while it hangs
            finally:
                hung.proxy.resume()
            resumed_at = time.monotonic()
            wait_for(
                lambda: hung.run(counts_by_status) == {"delivered": 10}, timeout=40, interval=0.3
            )
            print(f"measured: all delivered {time.monotonic() - resumed_at:.1f} s after resuming")
            assert "the database answers again" in worker.log()
            assert worker.stop() == 0
        expected = {str(visit): [1] for visit in first}
        expected[str(caught[0])] = [1]
        expected.update({str(visit): [1, 2] for visit in later})
        assert stored_once_in_order(core) == expected
        # The message caught by the hang was sent again with its Idempotency-Key, after its
        # lease: a replay, stored once, and its delivery audited once.
        posts = [
            e for e in core.log() if e["path"] == "/visits" and e["visit_id"] == str(caught[0])
        ]
        assert [e["replay"] for e in posts] == [False, True]

        def caught_message():
            message = db.session.scalars(
                select(OutboxMessage).where(OutboxMessage.visit_id == caught[0])
            ).one()
            audited = db.session.scalar(
                select(db.func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "deliver", AuditEvent.record_id == str(caught[0]))
            )
            return message.attempts, message.core_reference, audited

        [stored] = [item for item in core.received() if item["visit_id"] == str(caught[0])]
        assert hung.run(caught_message) == (2, stored["reference"], 1)
        log = worker.log()
        assert "Traceback" not in log, log
        for secret in ("s3cret", "Bearer", "password"):
            assert secret not in log


def command_env(hung: HungDatabase, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": hung.via,
        "SECRET_KEY": "hung-test-secret-" + "x" * 32,
        "SEEN_HEARD_ENV": "testing",
        "EVIDENCE_STORE": f"file://{tmp_path / 'evidence'}",
        "DATABASE_TIMEOUT_SECONDS": str(BOUND),
        "COMMAND_DATABASE_TIMEOUT_SECONDS": str(BOUND),
        "ALERTS_DIGEST_HOUR": "0",  # the scan reads the database at any hour
    }


@pytest.mark.parametrize(
    "command",
    [
        ["audit", "verify"],
        ["alerts", "scan"],
        ["outbox", "run", "--once"],
        ["db", "upgrade"],
    ],
)
def test_a_command_against_a_hung_database_exits_1_with_a_message(hung, tmp_path, command):
    hung.proxy.pause()
    try:
        started = time.monotonic()
        finished = subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, "-m", "flask", "--app", "wsgi", *command],
            cwd=ROOT,
            env=command_env(hung, tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        took = time.monotonic() - started
    finally:
        hung.proxy.resume()
    print(
        f"measured: database hung, flask {' '.join(command)} -> {finished.returncode} in {took:.1f} s"
    )
    assert finished.returncode == 1, finished.stderr
    last = finished.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: the database is unavailable ("), finished.stderr
    # The connection never came: the bound that ran out is the one on connecting.
    assert last.endswith("(DATABASE_TIMEOUT_SECONDS bounds connecting)."), last
    assert "COMMAND_DATABASE_TIMEOUT_SECONDS" not in last
    assert "Traceback" not in finished.stderr
    assert took < 15, took  # the interpreter's start, then at most a connection's bound


@pytest.fixture
def via_proxy(hung, tmp_path) -> Iterator[Flask]:
    """An app on the proxied database, its pool holding one connection that has answered."""
    application = create_app(
        {
            **FAST_TEST_SETTINGS,
            "SQLALCHEMY_DATABASE_URI": hung.via,
            "EVIDENCE_STORE": f"file://{tmp_path / 'evidence'}",
            "DATABASE_TIMEOUT_SECONDS": BOUND,
            "COMMAND_DATABASE_TIMEOUT_SECONDS": BOUND,
            "ALERTS_DIGEST_HOUR": 0,
        }
    )
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    "command",
    [
        ["audit", "verify"],
        ["alerts", "scan"],
        ["outbox", "status"],
        ["retention", "purge", "--dry-run"],
        ["evidence", "reconcile", "--dry-run"],
    ],
)
def test_a_command_whose_database_stops_answering_stops_within_the_bound(hung, via_proxy, command):
    with via_proxy.app_context():
        assert db.session.scalar(text("select 1")) == 1  # connected: the next waits for answers
        db.session.remove()
    runner = via_proxy.test_cli_runner()
    hung.proxy.pause()
    try:
        started = time.monotonic()
        result = runner.invoke(args=command)
        took = time.monotonic() - started
    finally:
        hung.proxy.resume()
    print(f"measured: database stopped answering, {' '.join(command)} stopped in {took:.1f} s")
    assert result.exit_code == 1, result.output
    assert "Error: the database is unavailable (" in result.output, result.output
    assert "(COMMAND_DATABASE_TIMEOUT_SECONDS bounds each wait for an answer)." in result.output
    assert took < BOUND + 1.5, took
    # The hung connection was dropped: the same app works once the database answers.
    assert runner.invoke(args=["outbox", "status"]).exit_code == 0


def test_outbox_run_once_stops_within_the_workers_bound_and_names_it(hung, tmp_path):
    """``outbox run --once`` waits as the worker does (``WORKER_DATABASE_TIMEOUT_SECONDS``, here
    far shorter than the commands' bound), and its message names that bound.
    """
    application = create_app(
        {
            **FAST_TEST_SETTINGS,
            "SQLALCHEMY_DATABASE_URI": hung.via,
            "EVIDENCE_STORE": f"file://{tmp_path / 'evidence'}",
            "DATABASE_TIMEOUT_SECONDS": BOUND,
            "COMMAND_DATABASE_TIMEOUT_SECONDS": 60,
            "WORKER_DATABASE_TIMEOUT_SECONDS": BOUND,
            "ALERTS_DIGEST_HOUR": 0,
        }
    )
    with application.app_context():
        assert db.session.scalar(text("select 1")) == 1  # connected: the next waits for answers
        db.session.remove()
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    hung.proxy.pause()
    try:
        started = time.monotonic()
        result = application.test_cli_runner().invoke(args=["outbox", "run", "--once"])
        took = time.monotonic() - started
    finally:
        hung.proxy.resume()
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        with application.app_context():
            db.engine.dispose()
    print(f"measured: database stopped answering, outbox run --once stopped in {took:.1f} s")
    assert result.exit_code == 1, result.output
    assert "Error: the database is unavailable (" in result.output, result.output
    assert "(WORKER_DATABASE_TIMEOUT_SECONDS bounds each wait for an answer)." in result.output
    assert "COMMAND_DATABASE_TIMEOUT_SECONDS" not in result.output
    assert took < BOUND + 1.5, took
