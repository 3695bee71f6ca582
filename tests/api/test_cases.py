"""The caseload: each child's last seen, last seen alone, next due and overdue."""

import uuid
from datetime import date, timedelta

from service.cases.models import Child
from service.extensions import db

CHILD_FIELDS = {
    "id",
    "name",
    "date_of_birth",
    "plan_type",
    "last_seen_at",
    "last_seen_alone_at",
    "next_visit_due",
    "overdue",
}


def test_caseload_has_the_contracted_shape(world, sign_in):
    cases = sign_in(world.usernames["worker_a"]).get("/cases").get_json()
    assert {case["id"] for case in cases} == {world.case_ids["a1"], world.case_ids["a2"]}
    case = next(c for c in cases if c["id"] == world.case_ids["a1"])
    assert {"id", "core_ref", "status", "allocated_worker", "team", "children"} <= set(case)
    assert case["allocated_worker"]["username"] == world.usernames["worker_a"]
    assert case["team"]["name"] == "team-a"
    assert len(case["children"]) == 2
    for child in case["children"]:
        assert CHILD_FIELDS <= set(child)
        assert child["last_seen_at"] is None and child["overdue"] is False


def test_a_never_seen_child_becomes_overdue_from_plan_start(app, world, sign_in):
    child_id = world.child_ids["a2"][0]
    with app.app_context():
        child = db.session.get(Child, uuid.UUID(child_id))
        child.plan_start_date = date.today() - timedelta(days=90)
        from service.cases.operations import refresh_next_due

        refresh_next_due(child)
        db.session.commit()
    worker = sign_in(world.usernames["worker_a"])
    child = worker.get(f"/children/{child_id}").get_json()
    assert child["overdue"] is True and child["last_seen_at"] is None
    assert date.fromisoformat(child["next_visit_due"]) < date.today()
    overdue_cases = worker.get("/cases?overdue=true").get_json()
    assert [case["id"] for case in overdue_cases] == [world.case_ids["a2"]]
    assert [c["id"] for c in worker.get("/cases?overdue=false").get_json()] == [
        world.case_ids["a1"]
    ]


def test_caseload_filters_and_bounded_pages(world, sign_in):
    manager = sign_in(world.usernames["manager"])
    assert len(manager.get("/cases?page_size=1").get_json()) == 1
    assert manager.get("/cases?page_size=201").status_code == 422
    assert manager.get("/cases?page=0").status_code == 422
    far = manager.get(f"/cases?page={10**30}")
    assert far.status_code == 200 and far.get_json() == []
    assert len(manager.get(f"/cases?worker_id={world.user_ids['worker_b']}").get_json()) == 1
    assert manager.get("/cases?plan_type=care_leaver").get_json() == []
    assert len(manager.get("/cases?plan_type=child_protection").get_json()) == 4
    assert manager.get("/cases?status=archived").status_code == 422


def test_child_lists_the_cases_they_are_on(world, sign_in):
    child = sign_in(world.usernames["worker_a"]).get(f"/children/{world.child_ids['a1'][0]}")
    assert child.get_json()["case_ids"] == [world.case_ids["a1"]]
