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


@pytest.mark.postgres
def test_concurrent_writers_never_fork_an_audit_chain(postgres_database, tmp_path):
    """Eight threads, each its own connection, append to the same few chains at once."""
    from sqlalchemy import func, select

    from service.audit import verify
    from service.audit.anchors import write_anchors
    from service.audit.events import Action, Subject
    from service.audit.models import AuditEvent
    from service.audit.trail import record

    app, _, _, _ = standalone_app(
        {
            "SQLALCHEMY_DATABASE_URI": postgres_database,
            "AUDIT_CHAINS": 2,
            "EVIDENCE_STORE": f"file://{tmp_path}",
        },
        1,
    )
    barrier = threading.Barrier(8)
    failures = []

    def write(children):
        with app.app_context():
            barrier.wait()
            try:
                for _ in range(25):
                    record(Action.READ, [Subject("test", None, child) for child in children])
                    db.session.commit()
            except Exception as error:
                failures.append(error)
            finally:
                db.session.remove()

    pools = [[uuid.uuid4() for _ in range(3)] for _ in range(8)]
    threads = [threading.Thread(target=write, args=(pool,)) for pool in pools]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) >= 8 * 25 * 3
        write_anchors()
        report = verify.verify()
        assert report.ok, [str(finding) for finding in report.findings]
        db.session.remove()
        db.engine.dispose()
