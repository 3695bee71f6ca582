"""The baseline for the visit-create benchmark: a bare Flask endpoint doing one INSERT.

Same framework, same gunicorn, same PostgreSQL: it parses the same JSON body and inserts it as
one row, with no auth, validation, scope checks or audit. ``BARE_DATABASE_URL`` names the database.
"""

from __future__ import annotations

import os
import uuid

from flask import Flask, request
from sqlalchemy import JSON, Column, MetaData, Table, Uuid, create_engine, insert, text

engine = create_engine(os.environ["BARE_DATABASE_URL"], pool_size=5)
metadata = MetaData()
rows = Table("bare_rows", metadata, Column("id", Uuid, primary_key=True), Column("body", JSON))
# Every worker imports this at once: a lock, or two of them race to create the table and the
# loser's worker fails to boot, which stops gunicorn (and wrk then counts refused connections).
with engine.begin() as connection:
    connection.execute(text("SELECT pg_advisory_xact_lock(4242)"))
    metadata.create_all(connection)

app = Flask(__name__)


@app.put("/rows/<uuid:row_id>")
def put_row(row_id: uuid.UUID) -> tuple[dict[str, str], int]:
    """Insert the body as one row."""
    with engine.begin() as connection:
        connection.execute(insert(rows).values(id=row_id, body=request.get_json()))
    return {"id": str(row_id)}, 201


@app.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness, so the benchmark harness knows the server is up."""
    return {"status": "ok"}
