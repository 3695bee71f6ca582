"""The sync cursor under concurrent commits on PostgreSQL: no change is ever skipped."""

import threading
import uuid

import pytest

from service.cases.models import Case
from service.extensions import db
from tests.factories import (
    PASSWORD,
    make_case,
    make_team,
    make_user,
    new_id,
    standalone_app,
    visit_body,
)

WRITERS = 4
VISITS_PER_WRITER = 6


@pytest.mark.postgres
def test_a_cursor_walk_during_concurrent_submits_sees_every_change(postgres_database):
    app, client, _, _ = standalone_app({"SQLALCHEMY_DATABASE_URI": postgres_database})
    with app.app_context():
        team = make_team()
        worker = make_user("social_worker", [team])
        cases = [make_case(team, worker, 1) for _ in range(WRITERS * VISITS_PER_WRITER)]
        bodies = [visit_body(db.session.get(Case, case.id)) for case in cases]
        child_ids = [str(case.children[0].id) for case in cases]
        username = worker.username
        db.session.commit()

    def tokens(device):
        body = {"username": username, "password": PASSWORD, "device_id": device}
        return {
            "Authorization": f"Bearer {client.post('/api/v1/auth/token', json=body).get_json()['access_token']}"
        }

    reader_headers = tokens("reader")
    seen_last_seen: dict[str, str | None] = {}
    done = threading.Event()
    cursor = None

    def poll():
        nonlocal cursor
        response = app.test_client().post(
            "/api/v1/sync",
            json={"device_id": "reader", "cursor": cursor, "visits": []},
            headers=reader_headers,
        )
        answer = response.get_json()
        for case in answer["changes"]["cases"]:
            for child in case["children"]:
                seen_last_seen[child["id"]] = child["last_seen_at"]
        cursor = answer["cursor"]

    def reader():
        while not done.is_set():
            poll()

    def writer(index):
        headers = tokens(f"writer-{index}")
        local = app.test_client()
        for body in bodies[index::WRITERS]:
            visit_id = new_id()
            assert (
                local.put(f"/api/v1/visits/{visit_id}", json=body, headers=headers).status_code
                == 201
            )
            assert (
                local.post(f"/api/v1/visits/{visit_id}/submit", headers=headers).status_code == 200
            )

    poll()  # the initial full caseload: nobody seen yet
    assert all(value is None for value in seen_last_seen.values())
    reading = threading.Thread(target=reader)
    reading.start()
    writing = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in writing:
        thread.start()
    for thread in writing:
        thread.join()
    done.set()
    reading.join()
    poll()  # one more incremental poll after the last commit
    # Each child was seen exactly once, by one submit: a skipped change would leave it unseen.
    assert set(seen_last_seen) == set(child_ids)
    assert all(seen_last_seen[child_id] is not None for child_id in child_ids), seen_last_seen
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    assert uuid.UUID(child_ids[0])
