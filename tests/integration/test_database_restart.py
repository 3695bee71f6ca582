"""PostgreSQL restarting under the app: its pooled connections die, and no request gets a 500.

``pg_terminate_backend`` ends the server side of the app's pooled connections, which is what a
restart (or a failover) does to them. The pool is checked with a round trip only after a
connection sat idle (``DATABASE_PING_AFTER_IDLE_SECONDS``, service/database.py), so:

- after an idle spell, the check finds the dead connection and the request gets a good answer;
- in steady use, the request that meets the dead connection answers a clean 503 with
  Retry-After (or a good answer), never a 500, nothing half-written; the next one is good.
"""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from service.extensions import db
from service.visits.models import Visit
from tests.factories import new_id, standalone_app


def _restart_the_apps_connections(database_url: str) -> int:
    """End every server process serving the app's database but this one; how many."""
    url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


def _visits(app) -> int:
    with app.app_context():
        count = db.session.query(Visit).count()
        db.session.remove()
        return count


def _stop(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _assert_clean(response) -> None:
    """A good answer, or the database's 503 with Retry-After: never a 500."""
    if response.status_code == 503:
        assert response.get_json()["code"] == "service.database_unavailable"
        assert response.headers["Retry-After"]
    else:
        assert response.status_code < 500, response.get_json()


@pytest.mark.postgres
def test_after_an_idle_spell_the_next_request_gets_a_good_answer(postgres_database):
    app, client, headers, body = standalone_app(
        {"SQLALCHEMY_DATABASE_URI": postgres_database, "DATABASE_PING_AFTER_IDLE_SECONDS": 1}
    )
    try:
        assert client.get("/api/v1/visits", headers=headers).status_code == 200
        assert _restart_the_apps_connections(postgres_database) >= 1
        time.sleep(1.2)
        created = client.put(f"/api/v1/visits/{new_id()}", json=body, headers=headers)
        assert created.status_code == 201, created.get_json()
        assert client.get("/api/v1/visits", headers=headers).status_code == 200
    finally:
        _stop(app)


@pytest.mark.postgres
def test_in_steady_use_the_next_request_is_a_clean_503_at_worst(postgres_database):
    app, client, headers, body = standalone_app(
        {"SQLALCHEMY_DATABASE_URI": postgres_database, "DATABASE_PING_AFTER_IDLE_SECONDS": 3600}
    )
    try:
        assert client.get("/api/v1/visits", headers=headers).status_code == 200
        before = _visits(app)
        assert _restart_the_apps_connections(postgres_database) >= 1
        visit_id = new_id()
        first = client.put(f"/api/v1/visits/{visit_id}", json=body, headers=headers)
        _assert_clean(first)
        stored = _visits(app)
        assert stored == before + (1 if first.status_code == 201 else 0)
        # The pool was replaced: whatever the first answer, the retry is a good one.
        retried = client.put(f"/api/v1/visits/{visit_id}", json=body, headers=headers)
        assert retried.status_code in (200, 201), retried.get_json()
        assert _visits(app) == before + 1
        with app.app_context():
            assert db.session.get(Visit, uuid.UUID(visit_id)).version == 1
            db.session.remove()
    finally:
        _stop(app)


@pytest.mark.postgres
def test_a_restart_between_every_request_never_gives_a_500(postgres_database):
    app, client, headers, body = standalone_app(
        {"SQLALCHEMY_DATABASE_URI": postgres_database, "DATABASE_PING_AFTER_IDLE_SECONDS": 3600}
    )
    try:
        for _ in range(4):
            _restart_the_apps_connections(postgres_database)
            _assert_clean(client.get("/api/v1/visits", headers=headers))
            _restart_the_apps_connections(postgres_database)
            _assert_clean(client.put(f"/api/v1/visits/{new_id()}", json=body, headers=headers))
    finally:
        _stop(app)
