"""The scope matrix: every role against every kind of record, through every read endpoint.

A record outside the caller's allocation answers 404, exactly like a missing one; an admin may
not read child records at all (403 on the role).
"""

import uuid

import pytest

from service.cases.models import Case
from service.extensions import db
from tests.factories import new_id, visit_body

VISIBLE, HIDDEN, ROLE_REFUSED = 200, 404, 403

# Who may see worker_a's case a1, its children and its visits.
EXPECTED = {
    "worker_a": VISIBLE,
    "worker_a2": HIDDEN,  # same team, not allocated
    "worker_b": HIDDEN,
    "supervisor_a": VISIBLE,
    "supervisor_b": HIDDEN,
    "manager": VISIBLE,
    "admin": ROLE_REFUSED,
}

ENDPOINTS = [
    "/cases/{case}",
    "/children/{child}",
    "/visits/{visit}",
    "/visits/{visit}/versions",
    "/visits/{visit}/versions/1",
]


@pytest.fixture
def records(app, world, sign_in):
    worker = sign_in(world.usernames["worker_a"])
    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids["a1"])))
    visit_id = new_id()
    assert worker.put(f"/visits/{visit_id}", json=body).status_code == 201
    assert worker.post(f"/visits/{visit_id}/submit").status_code == 200
    return {"case": world.case_ids["a1"], "child": world.child_ids["a1"][0], "visit": visit_id}


@pytest.mark.parametrize("role", list(EXPECTED))
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_read_matrix(world, sign_in, records, role, endpoint):
    caller = sign_in(world.usernames[role])
    response = caller.get(endpoint.format(**records))
    assert response.status_code == EXPECTED[role], (role, endpoint, response.get_json())
    if response.status_code == HIDDEN:
        # Indistinguishable from a record that does not exist at all.
        missing = caller.get(endpoint.format(case=new_id(), child=new_id(), visit=new_id()))
        assert missing.status_code == 404
        assert response.get_json()["code"] == missing.get_json()["code"]


@pytest.mark.parametrize("role", list(EXPECTED))
def test_lists_hold_only_what_is_in_scope(world, sign_in, records, role):
    caller = sign_in(world.usernames[role])
    cases = caller.get("/cases")
    visits = caller.get("/visits")
    if EXPECTED[role] == ROLE_REFUSED:
        assert cases.status_code == visits.status_code == 403
        return
    case_ids = {case["id"] for case in cases.get_json()}
    visit_ids = {visit["id"] for visit in visits.get_json()}
    assert (records["case"] in case_ids) == (EXPECTED[role] == VISIBLE)
    assert (records["visit"] in visit_ids) == (EXPECTED[role] == VISIBLE)


def test_caseload_sizes_per_role(world, sign_in):
    sizes = {
        role: len(sign_in(world.usernames[role]).get("/cases").get_json())
        for role in EXPECTED
        if role != "admin"
    }
    assert sizes == {
        "worker_a": 2,
        "worker_a2": 1,
        "worker_b": 1,
        "supervisor_a": 3,
        "supervisor_b": 1,
        "manager": 4,
    }


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("worker_a2", 404),
        ("worker_b", 404),
        ("supervisor_a", 403),
        ("manager", 403),
        ("admin", 403),
    ],
)
def test_only_the_author_may_change_a_visit(world, sign_in, records, role, status):
    caller = sign_in(world.usernames[role])
    visit = records["visit"]
    assert caller.post(f"/visits/{visit}/submit").status_code == status
    assert caller.post(f"/visits/{visit}/amend", json={"reason": "Because"}).status_code == status
    assert caller.delete(f"/visits/{visit}").status_code == status


def test_reallocated_case_leaves_the_former_worker(app, world, sign_in, records):
    with app.app_context():
        case = db.session.get(Case, uuid.UUID(world.case_ids["a1"]))
        case.allocated_worker_id = uuid.UUID(world.user_ids["worker_a2"])
        db.session.commit()
    former, current = sign_in(world.usernames["worker_a"]), sign_in(world.usernames["worker_a2"])
    # The case and its children leave the former worker's view at once...
    assert former.get(f"/cases/{records['case']}").status_code == 404
    assert former.get(f"/children/{records['child']}").status_code == 404
    assert records["case"] not in {case["id"] for case in former.get("/cases").get_json()}
    # ...but the visit they made while allocated is still theirs to read.
    assert former.get(f"/visits/{records['visit']}").status_code == 200
    assert current.get(f"/visits/{records['visit']}").status_code == 200
    assert current.get(f"/cases/{records['case']}").status_code == 200
