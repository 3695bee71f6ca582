"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, current_app
from limits.storage import storage_from_string
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.core_system.outbox import backlog
from service.database import database_deadline
from service.errors import problem
from service.extensions import db
from storage import EvidenceStore, StorageError

log = logging.getLogger(__name__)
blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process is up and answering."""
    return {"status": "ok"}


# /readyz answers within this many seconds whatever hangs: a probe not done by then is
# "unavailable" (load balancers commonly give a probe 2 s).
PROBE_BUDGET_SECONDS = 1.5
PROBES = "service.health.probes"


@blp.get("/readyz")
def readyz() -> Any:
    """Readiness: the database and the evidence store answer (503 otherwise).

    Each dependency is probed on its own thread and the answer comes within
    ``PROBE_BUDGET_SECONDS`` whatever hangs: a probe not done by then reports "unavailable", and
    is not started again while it is still running. With a council identity provider
    (``JWT_JWKS_URL``), its key set is reported too, but does not make the service unready:
    tokens whose keys are cached, and our own tokens, still work while it is down. The shared
    rate-limit store (Redis, ``RATELIMIT_STORAGE_URI``) is reported the same way: without it each
    process counts sign-ins alone, but nobody is refused.

    Also reports the core-system outbox: how many messages wait, how many are dead letters,
    and the oldest undelivered one's age in seconds (for an alert; a backlog is not unready).
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    store: EvidenceStore = app.extensions["evidence_store"]
    probes: dict[str, Callable[[], Any]] = {
        "database": lambda: _check_database(app),
        "evidence_store": lambda: _check_evidence_store(store),
    }
    if app.config["RATELIMIT_STORAGE_URI"] != "memory://":
        probes["rate_limit_store"] = lambda: _check_rate_limit_store(app)
    if app.config["JWT_JWKS_URL"]:
        from service.auth.identity_provider import provider_keys

        keys = provider_keys()
        probes["identity_provider"] = lambda: "ok" if keys.check() else "unavailable"
    runner: ProbeRunner = app.extensions.setdefault(PROBES, ProbeRunner())
    results = runner.run(probes, PROBE_BUDGET_SECONDS)
    database = results.pop("database")
    outbox = database[1] if isinstance(database, tuple) else None
    checks = {"database": database[0] if isinstance(database, tuple) else database, **results}
    if any(checks[name] != "ok" for name in ("database", "evidence_store")):
        return problem(
            503,
            "service.not_ready",
            "Service unavailable",
            "A dependency cannot be reached.",
            headers={"Retry-After": "10"},
            checks=checks,
        )
    return {"status": "ready", "checks": checks, "outbox": outbox}


class ProbeRunner:
    """Runs probes on threads, at most one per dependency at a time, within a time budget."""

    def __init__(self) -> None:
        self._running: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def run(self, probes: dict[str, Callable[[], Any]], budget: float) -> dict[str, Any]:
        """Each probe's result, or ``"unavailable"`` for one that failed or is not done in time."""
        results: dict[str, Any] = {}
        started: list[threading.Thread] = []
        with self._lock:
            for name, probe in probes.items():
                if name in self._running and self._running[name].is_alive():
                    continue  # still stuck in the last request's probe
                thread = threading.Thread(
                    target=self._probe, args=(name, probe, results), daemon=True
                )
                self._running[name] = thread
                thread.start()
                started.append(thread)
        deadline = time.monotonic() + budget
        for thread in started:
            thread.join(max(0.0, deadline - time.monotonic()))
        answered = dict(results)
        return {name: answered.get(name, "unavailable") for name in probes}

    @staticmethod
    def _probe(name: str, probe: Callable[[], Any], results: dict[str, Any]) -> None:
        try:
            results[name] = probe()
        except Exception:  # a probe's failure is an answer, whatever it is
            log.warning("readiness probe %s failed", name, exc_info=True)
            results[name] = "unavailable"


def _check_database(app: Flask) -> tuple[str, dict[str, Any] | None]:
    """``("ok", outbox summary)``, waiting at most the probe budget for each answer."""
    with app.app_context(), database_deadline(PROBE_BUDGET_SECONDS):
        try:
            db.session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return "unavailable", None
        finally:
            db.session.rollback()
        try:
            return "ok", backlog()
        except SQLAlchemyError:
            return "ok", None
        finally:
            db.session.remove()


def _check_evidence_store(store: EvidenceStore) -> str:
    # The store create_app opened; a bucket that has gone is FileNotFoundError.
    try:
        store.check()
    except (StorageError, FileNotFoundError):
        return "unavailable"
    return "ok"


RATE_LIMIT_PROBE = "service.health.rate_limit_store"


def _check_rate_limit_store(app: Flask) -> str:
    # Its own client, built once per app with the limiter's options (timeouts, no retries): the
    # limiter's store belongs to whichever app initialised it last in this process.
    store = app.extensions.get(RATE_LIMIT_PROBE)
    if store is None:
        store = storage_from_string(
            app.config["RATELIMIT_STORAGE_URI"], **app.config["RATELIMIT_STORAGE_OPTIONS"]
        )
        app.extensions[RATE_LIMIT_PROBE] = store
    return "ok" if store.check() else "unavailable"
