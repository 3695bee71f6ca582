"""Issue #13: the embedded SQLite database, locked by another writer, is a 503, not a hang."""

from __future__ import annotations

import sqlite3
import time

from tests.factories import standalone_app

DATABASE_TIMEOUT = 2


def test_a_locked_sqlite_database_answers_503_with_retry_after(tmp_path):
    path = tmp_path / "locked.db"
    app, client, headers, _ = standalone_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "EVIDENCE_STORE": f"file://{tmp_path / 'evidence'}",
            "DATABASE_TIMEOUT_SECONDS": DATABASE_TIMEOUT,
        }
    )
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        reply = client.get("/api/v1/me", headers=headers)
        took = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert reply.status_code == 503, reply.get_json()
    assert reply.get_json()["code"] == "service.database_unavailable"
    assert reply.headers["Retry-After"]
    assert DATABASE_TIMEOUT - 0.5 < took < DATABASE_TIMEOUT + 1.5, took
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    with app.app_context():
        from service.extensions import db

        db.engine.dispose()


def test_a_command_on_a_locked_sqlite_database_stops_with_a_message(tmp_path):
    path = tmp_path / "locked.db"
    app, _, _, _ = standalone_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "EVIDENCE_STORE": f"file://{tmp_path / 'evidence'}",
            "DATABASE_TIMEOUT_SECONDS": DATABASE_TIMEOUT,
        }
    )
    runner = app.test_cli_runner()
    assert runner.invoke(args=["outbox", "status"]).exit_code == 0
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        result = runner.invoke(args=["outbox", "status"])
        took = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 1, result.output
    assert "Error: the database is unavailable (database is locked)" in result.output
    assert DATABASE_TIMEOUT - 0.5 < took < DATABASE_TIMEOUT + 1.5, took
    assert runner.invoke(args=["outbox", "status"]).exit_code == 0
    with app.app_context():
        from service.extensions import db

        db.engine.dispose()
