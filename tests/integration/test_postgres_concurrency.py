"""Behaviour that depends on real concurrent transactions, on PostgreSQL."""

import threading
import uuid

import pytest

from service.extensions import db
from service.visits.models import Visit
from tests.factories import new_id, standalone_app


@pytest.mark.postgres
def test_simultaneous_creates_of_one_visit_id_store_one_visit(postgres_database):
    app, _, headers, body = standalone_app({"SQLALCHEMY_DATABASE_URI": postgres_database}, 2)
    visit_id = new_id()
    barrier = threading.Barrier(4)
    statuses = []

    def put():
        local = app.test_client()
        barrier.wait()
        statuses.append(
            local.put(f"/api/v1/visits/{visit_id}", json=body, headers=headers).status_code
        )

    threads = [threading.Thread(target=put) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 200, 201]
    with app.app_context():
        assert db.session.query(Visit).filter(Visit.id == uuid.UUID(visit_id)).count() == 1
        db.session.remove()
        db.engine.dispose()
