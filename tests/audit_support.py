"""Helpers for the audit trail's tests: tampering past the append-only trigger, verifying."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from service.audit import anchors, verify
from service.extensions import db


def tamper(sql: str, **params: Any) -> None:
    """Run ``sql`` against audit_events as an attacker with the database's owner rights would:
    past the append-only trigger (PostgreSQL: replication role; SQLite: triggers dropped).
    """
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            connection.execute(text(sql), params)
            return
        triggers = connection.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        ).all()
        for name, _ in triggers:
            connection.execute(text(f"DROP TRIGGER {name}"))
        connection.execute(text(sql), params)
        for _, sql_text in triggers:
            connection.execute(text(sql_text))


def findings() -> list[tuple[int, int | None, str]]:
    """``(chain, seq, kind)`` for everything ``verify`` finds."""
    report = verify.verify()
    db.session.rollback()
    return [(f.chain, f.seq, f.kind) for f in report.findings]


def anchor_all() -> None:
    """Anchor every chain's head now."""
    anchors.write_anchors()
    db.session.rollback()
