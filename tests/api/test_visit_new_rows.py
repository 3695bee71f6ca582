"""A new visit written straight to its rows (``service/visits/new_rows.py``) is the same record
the unit of work writes, and leaves the session as a flush would.
"""

import uuid
from typing import Any

from sqlalchemy import select

from api_schemas.visits import VisitInSchema
from service.auth.models import User
from service.cases.models import Case
from service.extensions import db
from service.visits import lifecycle
from service.visits.models import Visit, VisitChild
from service.visits.operations import content_digest, create_visit
from tests.factories import new_id, visit_body

# What differs between two visits made a moment apart: their ids and when they were made.
OWN = {"id", "visit_id", "recorded_at", "updated_at", "content_digest"}


def _rows(visit_id: uuid.UUID) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    visit = db.session.execute(select(Visit.__table__).where(Visit.id == visit_id)).one()
    children = db.session.execute(
        select(VisitChild.__table__)
        .where(VisitChild.visit_id == visit_id)
        .order_by(VisitChild.position)
    ).all()
    strip = lambda row: {k: v for k, v in row._mapping.items() if k not in OWN}  # noqa: E731
    return strip(visit), [strip(child) for child in children]


def _body(app, world):
    with app.app_context():
        case = db.session.get(Case, uuid.UUID(world.case_ids["a1"]))
        body = visit_body(case)
    body["children"][1]["voice"] = None  # a child with no voice: every column left unset
    return body


def test_the_direct_insert_writes_what_the_unit_of_work_writes(app, world, worker):
    body = _body(app, world)
    direct = new_id()
    response = worker.put(f"/visits/{direct}", json=body)
    assert response.status_code == 201, response.get_json()
    with app.app_context():
        user = db.session.get(User, uuid.UUID(world.user_ids["worker_a"]))
        flushed = uuid.uuid4()
        with db.session.begin_nested():  # inside a savepoint: the unit of work's path
            create_visit(user, flushed, VisitInSchema().load(body))
        db.session.commit()
        assert _rows(uuid.UUID(direct)) == _rows(flushed)


def test_the_response_is_built_without_reading_the_visit_back(app, world, worker):
    body = _body(app, world)
    visit_id = new_id()
    created = worker.put(f"/visits/{visit_id}", json=body).get_json()
    read = worker.get(f"/visits/{visit_id}").get_json()
    assert created == read


def test_a_rollback_takes_a_directly_inserted_visit_out_of_the_session(app, world):
    with app.app_context():
        user = db.session.get(User, uuid.UUID(world.user_ids["worker_a"]))
        case = db.session.get(Case, uuid.UUID(world.case_ids["a1"]))
        body = VisitInSchema().load(visit_body(case))
        visit_id = uuid.uuid4()
        visit, created = create_visit(user, visit_id, body, content_digest(body))
        assert created and lifecycle.created_here(visit) and visit in db.session
        assert not db.session.new and not db.session.dirty  # nothing left to flush
        children = list(visit.children)
        assert len(children) == 2 and all(child in db.session for child in children)
        db.session.rollback()
        assert visit not in db.session
        assert all(child not in db.session for child in children)
        assert db.session.get(Visit, visit_id) is None


def test_the_case_is_read_once_and_taken_from_the_session_when_it_is_there(app, world):
    from datetime import UTC, datetime

    from sqlalchemy import event

    from service.visits.operations import _recordable_case

    case_id = uuid.UUID(world.case_ids["a1"])
    statements: list[str] = []

    def note(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        user = db.session.get(User, uuid.UUID(world.user_ids["worker_a"]))
        event.listen(db.engine, "before_cursor_execute", note)
        try:
            case = _recordable_case(user, case_id, datetime.now(UTC))
            assert len(statements) == 1  # the case and its children in one statement
            assert sorted(str(child.id) for child in case.children) == sorted(world.child_ids["a1"])
            again = _recordable_case(user, case_id, datetime.now(UTC))
            assert again is case and len(statements) == 1
            db.session.expire(case)  # in the session but expired: refreshed, as get() does
            assert _recordable_case(user, case_id, datetime.now(UTC)) is case
            assert len(statements) == 2 and case.status == "open"
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
            db.session.rollback()
