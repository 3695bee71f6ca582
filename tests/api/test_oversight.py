"""Oversight: the overdue list, the summary, and a child's chronology."""

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta

from service.cases.models import Case, Child
from service.cases.operations import refresh_next_due
from service.extensions import db
from tests.factories import new_id, visit_body


def start_plan(app, child_id, days_ago, plan_type="child_protection"):
    with app.app_context():
        child = db.session.get(Child, uuid.UUID(child_id))
        child.plan_type, child.plan_start_date = plan_type, date.today() - timedelta(days=days_ago)
        refresh_next_due(child)
        db.session.commit()


def submit(app, world, session, case_key="a1", **overrides):
    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids[case_key])), **overrides)
    visit_id = new_id()
    session.put(f"/visits/{visit_id}", json=body)
    response = session.post(f"/visits/{visit_id}/submit")
    assert response.status_code == 200, response.get_json()
    return visit_id, response.headers["ETag"]


def test_never_seen_children_are_overdue_from_plan_start_worst_first(
    app, world, supervisor, sign_in
):
    start_plan(app, world.child_ids["a1"][0], 60)
    start_plan(app, world.child_ids["a2"][0], 90, "child_in_need")
    rows = supervisor.get("/oversight/overdue").get_json()
    assert [row["child_id"] for row in rows] == [world.child_ids["a2"][0], world.child_ids["a1"][0]]
    first = rows[0]
    assert first["never_seen"] is True and first["last_seen_at"] is None
    assert (
        first["days_overdue"]
        == (date.today() - date.fromisoformat(first["next_visit_due"])).days
        > 0
    )
    assert (
        first["allocated_worker"]["username"] == world.usernames["worker_a"] and first["core_ref"]
    )
    assert sign_in(world.usernames["supervisor_b"]).get("/oversight/overdue").get_json() == []
    assert len(sign_in(world.usernames["manager"]).get("/oversight/overdue").get_json()) == 2
    assert sign_in(world.usernames["worker_a"]).get("/oversight/overdue").status_code == 403


def test_filters_and_within_days(app, world, supervisor):
    start_plan(app, world.child_ids["a1"][0], 60)
    assert len(supervisor.get("/oversight/overdue?plan_type=child_protection").get_json()) == 1
    assert supervisor.get("/oversight/overdue?plan_type=care_leaver").get_json() == []
    assert (
        supervisor.get(f"/oversight/overdue?worker_id={world.user_ids['worker_a2']}").get_json()
        == []
    )
    assert supervisor.get(f"/oversight/overdue?team_id={world.team_ids['b']}").get_json() == []
    soon = supervisor.get("/oversight/overdue?within_days=30").get_json()
    assert len(soon) == 4 and soon[0]["child_id"] == world.child_ids["a1"][0]
    assert any(row["days_overdue"] < 0 for row in soon)


def test_a_submitted_visit_takes_a_child_off_the_list_and_approval_keeps_it_off(
    app, world, worker, supervisor
):
    start_plan(app, world.child_ids["a2"][0], 60)
    assert [r["child_id"] for r in supervisor.get("/oversight/overdue").get_json()] == [
        world.child_ids["a2"][0]
    ]
    visit_id, etag = submit(app, world, worker, "a2")
    assert supervisor.get("/oversight/overdue").get_json() == []
    approved = supervisor.post(
        f"/visits/{visit_id}/review", json={"decision": "approve"}, headers={"If-Match": etag}
    )
    assert approved.status_code == 201
    assert supervisor.get("/oversight/overdue").get_json() == []


def test_summary_counts(app, world, worker, supervisor, sign_in):
    start_plan(app, world.child_ids["a1"][0], 60)
    submit(app, world, worker, "a2")
    submit(app, world, worker, "a1")
    summary = supervisor.get("/oversight/summary").get_json()
    team = summary["teams"][0]
    assert team["team"]["name"] == "team-a" and len(summary["teams"]) == 1
    assert team["children"] == 4 and team["seen_within_timescale"] == 4
    assert (
        team["statutory_visits_child_seen"] == 3
        and team["seen_alone"] == 3
        and team["seen_alone_pct"] == 100.0
    )
    assert team["awaiting_review"] == 2 and team["oldest_waiting_since"]
    assert summary["total"]["children"] == 4 and summary["total"]["team"] is None
    manager_summary = (
        sign_in(world.usernames["manager"]).get("/oversight/summary?days=30").get_json()
    )
    assert [t["team"]["name"] for t in manager_summary["teams"]] == ["team-a", "team-b"]
    assert manager_summary["total"]["children"] == 6 and manager_summary["period_days"] == 30


def test_children_without_views_in_their_last_three_visits(app, world, worker, supervisor):
    for _ in range(3):
        with app.app_context():
            body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids["a2"])))
        body["children"][0]["voice"] = {"not_gathered_reason": "Asleep"}
        visit_id = new_id()
        worker.put(f"/visits/{visit_id}", json=body)
        assert worker.post(f"/visits/{visit_id}/submit").status_code == 200
    assert (
        supervisor.get("/oversight/summary").get_json()["total"][
            "children_without_views_in_last_3_visits"
        ]
        == 1
    )
    later = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    # The latest visit, with the child's own words.
    submit(
        app,
        world,
        worker,
        "a2",
        started_at=later.isoformat(),
        ended_at=(later + timedelta(minutes=20)).isoformat(),
    )
    assert (
        supervisor.get("/oversight/summary").get_json()["total"][
            "children_without_views_in_last_3_visits"
        ]
        == 0
    )


def test_late_recordings_are_counted(app, world, worker, supervisor):
    from datetime import UTC, datetime

    ten_days_ago = datetime.now(UTC) - timedelta(days=10)
    submit(
        app,
        world,
        worker,
        "a2",
        started_at=ten_days_ago.isoformat(),
        ended_at=(ten_days_ago + timedelta(hours=1)).isoformat(),
    )
    submit(app, world, worker, "a2")
    assert supervisor.get("/oversight/summary").get_json()["total"]["late_recordings"] == 1


def test_chronology_in_time_order_with_words_and_decisions(app, world, worker, supervisor):
    child_id = world.child_ids["a1"][0]
    visit_id, etag = submit(app, world, worker, "a1")
    supervisor.post(
        f"/visits/{visit_id}/review",
        json={"decision": "return", "comment": '=HYPERLINK("x")'},
        headers={"If-Match": etag},
    )
    draft = new_id()
    with app.app_context():
        worker.put(
            f"/visits/{draft}",
            json=visit_body(db.session.get(Case, uuid.UUID(world.case_ids["a1"]))),
        )
    start_plan(app, child_id, 2, "child_in_need")
    entries = supervisor.get(f"/children/{child_id}/chronology").get_json()
    kinds = [entry["kind"] for entry in entries]
    # The protection plan (from 3 days ago), the change to child in need (2 days ago), the visit
    # (2 hours ago) and the return decision.
    assert kinds == ["plan", "plan", "visit", "review"]
    assert entries[1]["details"]["plan_type"] == "child_in_need"
    visit_entry = entries[2]
    assert visit_entry["visit_id"] == visit_id and visit_entry["details"]["voice"][
        "own_words"
    ].startswith("I like it")
    assert entries[3]["details"]["decision"] == "return"
    assert draft not in {entry["visit_id"] for entry in entries}  # drafts are not the record
    response = supervisor.get(f"/children/{child_id}/chronology?format=csv")
    assert (
        response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["at", "kind", "visit_id", "summary", "details"] and len(rows) == 5
    assert all(not cell.startswith("=") for row in rows for cell in row)
    assert worker.get(f"/children/{child_id}/chronology").status_code == 200


def test_chronology_scope(world, sign_in):
    child_id = world.child_ids["a1"][0]
    assert (
        sign_in(world.usernames["supervisor_b"]).get(f"/children/{child_id}/chronology").status_code
        == 404
    )
    assert (
        sign_in(world.usernames["worker_a2"]).get(f"/children/{child_id}/chronology").status_code
        == 404
    )
    assert (
        sign_in(world.usernames["admin"]).get(f"/children/{child_id}/chronology").status_code == 403
    )
