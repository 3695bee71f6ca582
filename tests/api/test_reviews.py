"""Supervisor review: the queue and its flags, decisions, management decisions, scope."""

import uuid
from datetime import UTC, date, datetime, timedelta

from service.auth.models import User
from service.cases.models import Case, Child
from service.extensions import db
from tests.factories import new_id, visit_body


def body_for(app, world, case_key="a1", **overrides):
    with app.app_context():
        return visit_body(db.session.get(Case, uuid.UUID(world.case_ids[case_key])), **overrides)


def submitted_visit(session, body):
    visit_id = new_id()
    assert session.put(f"/visits/{visit_id}", json=body).status_code == 201
    response = session.post(f"/visits/{visit_id}/submit")
    assert response.status_code == 200, response.get_json()
    return visit_id, response.headers["ETag"]


def decide(session, visit_id, etag, **body):
    return session.post(
        f"/visits/{visit_id}/review", json=body, headers={"If-Match": etag} if etag else {}
    )


def test_queue_is_oldest_first_and_scoped(app, world, worker, supervisor, sign_in):
    first, _ = submitted_visit(worker, body_for(app, world))
    second, _ = submitted_visit(worker, body_for(app, world, "a2"))
    queue = supervisor.get("/reviews/queue").get_json()
    assert [item["id"] for item in queue] == [first, second]
    assert queue[0]["flags"] == [] and queue[0]["worker"]["username"] == world.usernames["worker_a"]
    assert sign_in(world.usernames["supervisor_b"]).get("/reviews/queue").get_json() == []
    assert len(sign_in(world.usernames["manager"]).get("/reviews/queue").get_json()) == 2
    assert worker.get("/reviews/queue").status_code == 403


def test_queue_flags_and_filters(app, world, worker, supervisor):
    not_seen = body_for(app, world)
    not_seen["children"][0] = {
        "child_id": not_seen["children"][0]["child_id"],
        "seen": False,
        "not_seen_reason": "no_access",
    }
    not_alone_no_views = body_for(app, world, "a2")
    not_alone_no_views["children"][0].update(
        seen_alone=False,
        not_seen_alone_reason="parent_refused",
        voice={"not_gathered_reason": "Too upset to talk"},
    )
    five_days_ago = datetime.now(UTC) - timedelta(days=8)
    late = body_for(
        app,
        world,
        "a2",
        started_at=five_days_ago.isoformat(),
        ended_at=(five_days_ago + timedelta(hours=1)).isoformat(),
    )
    ids = {
        name: submitted_visit(worker, body)[0]
        for name, body in (("not_seen", not_seen), ("no_views", not_alone_no_views), ("late", late))
    }
    flags = {item["id"]: item["flags"] for item in supervisor.get("/reviews/queue").get_json()}
    assert flags[ids["not_seen"]] == ["not_seen"]
    assert flags[ids["no_views"]] == ["not_seen_alone", "no_views"]
    assert flags[ids["late"]] == ["late"]
    only_late = supervisor.get("/reviews/queue?flag=late").get_json()
    assert [item["id"] for item in only_late] == [ids["late"]]
    assert (
        supervisor.get(f"/reviews/queue?worker_id={world.user_ids['worker_a2']}").get_json() == []
    )
    assert supervisor.get("/reviews/queue?older_than_days=2").get_json() == []
    assert supervisor.get("/reviews/queue?flag=sleepy").status_code == 422


def test_approve_needs_the_current_version(app, world, worker, supervisor, sign_in):
    visit_id, etag = submitted_visit(worker, body_for(app, world))
    assert decide(supervisor, visit_id, None, decision="approve").status_code == 428
    assert decide(supervisor, visit_id, '"1"', decision="approve").status_code == 412
    approved = decide(supervisor, visit_id, etag, decision="approve")
    assert approved.status_code == 201, approved.get_json()
    assert approved.get_json()["version_number"] == 1
    assert worker.get(f"/visits/{visit_id}").get_json()["status"] == "approved"
    # A second reviewer acting on the version they read earlier is refused.
    manager = sign_in(world.usernames["manager"])
    assert decide(manager, visit_id, etag, decision="return", comment="x").status_code == 412
    assert (
        decide(manager, visit_id, approved.headers["ETag"], decision="approve").status_code == 409
    )
    assert supervisor.get("/reviews/queue").get_json() == []


def test_return_needs_a_comment_and_the_worker_sees_it(app, world, worker, supervisor, sign_in):
    visit_id, etag = submitted_visit(worker, body_for(app, world))
    missing = decide(supervisor, visit_id, etag, decision="return")
    assert missing.status_code == 422 and "comment" in missing.get_json()["errors"]
    returned = decide(
        supervisor,
        visit_id,
        etag,
        decision="return",
        comment="Add the child's own words about school.",
    )
    assert returned.status_code == 201
    reviews = worker.get(f"/visits/{visit_id}/reviews").get_json()
    assert [(r["decision"], r["comment"]) for r in reviews] == [
        ("return", "Add the child's own words about school.")
    ]
    tablet = sign_in(world.usernames["worker_a"], device_id="tab")
    changes = tablet.post("/sync", json={"device_id": "tab", "visits": []}).get_json()["changes"]
    assert (
        changes["returned_visits"][0]["review_comment"] == "Add the child's own words about school."
    )
    visit = worker.get(f"/visits/{visit_id}")
    fixed = dict(
        body_for(app, world),
        started_at=visit.get_json()["started_at"],
        ended_at=visit.get_json()["ended_at"],
        analysis="Now with school",
    )
    assert (
        worker.put(
            f"/visits/{visit_id}", json=fixed, headers={"If-Match": visit.headers["ETag"]}
        ).status_code
        == 200
    )
    assert worker.post(f"/visits/{visit_id}/submit").status_code == 200
    assert [item["id"] for item in supervisor.get("/reviews/queue").get_json()] == [visit_id]
    assert [v["number"] for v in worker.get(f"/visits/{visit_id}/versions").get_json()] == [1, 2]


def test_a_child_not_seen_needs_a_management_decision(app, world, worker, supervisor):
    body = body_for(app, world)
    body["children"][1] = {
        "child_id": body["children"][1]["child_id"],
        "seen": False,
        "not_seen_reason": "child_not_home",
    }
    visit_id, etag = submitted_visit(worker, body)
    refused = decide(supervisor, visit_id, etag, decision="approve")
    assert (
        refused.status_code == 422
        and refused.get_json()["code"] == "review.management_decision_required"
    )
    past = decide(
        supervisor,
        visit_id,
        etag,
        decision="approve",
        management_decision={"action": "Revisit", "due_by": "2020-01-01"},
    )
    assert past.status_code == 422
    due = (date.today() + timedelta(days=5)).isoformat()
    ok = decide(
        supervisor,
        visit_id,
        etag,
        decision="approve",
        management_decision={"action": "Revisit unannounced", "due_by": due},
    )
    assert ok.status_code == 201
    assert (
        ok.get_json()["management_action"] == "Revisit unannounced"
        and ok.get_json()["management_due_by"] == due
    )


def test_not_seen_alone_on_a_protection_plan_needs_a_management_decision(
    app, world, worker, supervisor
):
    body = body_for(app, world)
    body["children"][0].update(seen_alone=False, not_seen_alone_reason="parent_refused")
    visit_id, etag = submitted_visit(worker, body)
    assert decide(supervisor, visit_id, etag, decision="approve").status_code == 422
    with app.app_context():
        for child_id in world.child_ids["a2"]:
            db.session.get(Child, uuid.UUID(child_id)).plan_type = "child_in_need"
        db.session.commit()
    other = body_for(app, world, "a2")
    other["children"][0].update(seen_alone=False, not_seen_alone_reason="parent_refused")
    cin_id, cin_etag = submitted_visit(worker, other)
    assert decide(supervisor, cin_id, cin_etag, decision="approve").status_code == 201


def test_escalate_goes_to_a_manager(app, world, worker, supervisor, sign_in):
    visit_id, etag = submitted_visit(worker, body_for(app, world))
    escalated = decide(
        supervisor, visit_id, etag, decision="escalate", comment="Concerns about the new partner"
    )
    assert escalated.status_code == 201
    manager = sign_in(world.usernames["manager"])
    queue = manager.get("/reviews/queue?flag=escalated").get_json()
    assert [item["id"] for item in queue] == [visit_id]
    assert (
        decide(manager, visit_id, escalated.headers["ETag"], decision="approve").status_code == 201
    )
    assert [r["decision"] for r in manager.get(f"/visits/{visit_id}/reviews").get_json()] == [
        "escalate",
        "approve",
    ]


def test_you_cannot_review_your_own_visit(app, world, worker, sign_in):
    visit_id, etag = submitted_visit(worker, body_for(app, world))
    with app.app_context():
        db.session.get(User, uuid.UUID(world.user_ids["worker_a"])).role = "supervisor"
        db.session.commit()
    promoted = sign_in(world.usernames["worker_a"])
    assert (
        decide(promoted, visit_id, etag, decision="approve").get_json()["code"]
        == "review.own_visit"
    )


def test_review_scope_and_state(app, world, worker, sign_in):
    visit_id, etag = submitted_visit(worker, body_for(app, world))
    assert (
        decide(
            sign_in(world.usernames["supervisor_b"]), visit_id, etag, decision="approve"
        ).status_code
        == 404
    )
    assert (
        decide(sign_in(world.usernames["admin"]), visit_id, etag, decision="approve").status_code
        == 403
    )
    draft_id = new_id()
    worker.put(f"/visits/{draft_id}", json=body_for(app, world))
    assert (
        decide(
            sign_in(world.usernames["supervisor_a"]), draft_id, '"1"', decision="approve"
        ).status_code
        == 409
    )
