"""Behaviour that depends on real concurrent transactions, on PostgreSQL."""

import threading
import uuid

import pytest
from flask_migrate import upgrade

from service import create_app
from service.cases.models import Case
from service.extensions import db
from service.visits.models import Visit
from tests.factories import PASSWORD, make_case, make_team, make_user, new_id, visit_body


@pytest.mark.postgres
def test_simultaneous_creates_of_one_visit_id_store_one_visit(postgres_database):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": postgres_database,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST_KIB": 1024,
            "LOGIN_RATE_LIMIT": "10000 per minute",
        }
    )
    with app.app_context():
        upgrade()
        team = make_team()
        worker = make_user("social_worker", [team])
        case = make_case(team, worker, 2)
        body = visit_body(db.session.get(Case, case.id))
        username = worker.username
        db.session.commit()
    client = app.test_client()
    token = client.post(
        "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
    ).get_json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
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
