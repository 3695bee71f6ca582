"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.core_system.outbox import backlog
from service.errors import problem
from service.extensions import db
from storage import EvidenceStore, StorageError

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process is up and answering."""
    return {"status": "ok"}


@blp.get("/readyz")
def readyz() -> Any:
    """Readiness: the database and the evidence store answer (503 otherwise).

    Also reports the core-system outbox: how many messages wait, how many are dead letters,
    and the oldest undelivered one's age in seconds (for an alert; a backlog is not unready).
    """
    checks = {"database": _check_database(), "evidence_store": _check_evidence_store()}
    if any(state != "ok" for state in checks.values()):
        return problem(
            503,
            "service.not_ready",
            "Service unavailable",
            "A dependency cannot be reached.",
            headers={"Retry-After": "10"},
            checks=checks,
        )
    return {"status": "ready", "checks": checks, "outbox": _outbox()}


def _outbox() -> dict[str, Any] | None:
    try:
        summary = backlog()
    except SQLAlchemyError:
        db.session.rollback()
        return None
    return summary


def _check_database() -> str:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return "unavailable"
    return "ok"


def _check_evidence_store() -> str:
    # The store create_app opened; a bucket that has gone is FileNotFoundError.
    store: EvidenceStore = current_app.extensions["evidence_store"]
    try:
        store.check()
    except (StorageError, FileNotFoundError):
        return "unavailable"
    return "ok"
