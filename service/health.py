"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.errors import problem
from service.extensions import db

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process is up and answering."""
    return {"status": "ok"}


@blp.get("/readyz")
def readyz() -> Any:
    """Readiness: the database answers (503 otherwise, so traffic goes elsewhere)."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return problem(
            503,
            "service.database_unavailable",
            "Service unavailable",
            "The database cannot be reached.",
            headers={"Retry-After": "10"},
            checks={"database": "unavailable"},
        )
    return {"status": "ready", "checks": {"database": "ok"}}
