"""The dashboard's figures: twelve months by team, from the same rules as the summary."""

import uuid
from datetime import UTC, date, datetime, timedelta

from service.auth.models import User
from service.cases.models import Case, Child
from service.cases.operations import refresh_next_due
from service.extensions import db
from service.oversight import dashboard
from service.timescales.timeliness import plan_in_force
from tests.factories import new_id, visit_body


def test_month_starts_are_the_last_twelve_calendar_months():
    months = dashboard.month_starts(date(2026, 3, 15))
    assert months[0] == date(2025, 4, 1) and months[-1] == date(2026, 3, 1)
    assert len(months) == 12


def start_plan(app, child_id, days_ago):
    with app.app_context():
        child = db.session.get(Child, uuid.UUID(child_id))
        child.plan_start_date = date.today() - timedelta(days=days_ago)
        refresh_next_due(child)
        db.session.commit()


def submit(app, world, session, case_key, started, **child_changes):
    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids[case_key])))
    body["started_at"] = started.isoformat()
    body["ended_at"] = (started + timedelta(minutes=40)).isoformat()
    for entry in body["children"]:
        entry.update(child_changes)
    visit_id = new_id()
    assert session.put(f"/visits/{visit_id}", json=body).status_code == 201
    assert session.post(f"/visits/{visit_id}/submit").status_code == 200


def figures(app, world, username_key):
    with app.app_context():
        user = db.session.scalar(
            db.select(User).where(User.username == world.usernames[username_key])
        )
        result = dashboard.dashboard(user)
        return result, {
            item.name: {
                "children_seen": sum(m.children_seen for m in item.months),
                "seen_alone": sum(m.seen_alone for m in item.months),
                "timed": sum(m.timed_visits for m in item.months),
                "in_time": sum(m.in_time for m in item.months),
                "late": sum(m.late_recordings for m in item.months),
                "waits": item.waits,
                "months": len(item.months),
            }
            for item in result["teams"]
        }


def test_twelve_months_by_team(app, world, worker, sign_in):
    # Case a2's child: on a protection plan (every 10 working days) from 20 days ago; seen
    # 16 days ago (in time, recorded late) and again now, not alone (late: due ~2 days ago).
    start_plan(app, world.child_ids["a2"][0], 20)
    now = datetime.now(UTC).replace(microsecond=0)
    submit(app, world, worker, "a2", now - timedelta(days=16))
    submit(
        app,
        world,
        worker,
        "a2",
        now - timedelta(hours=2),
        seen_alone=False,
        not_seen_alone_reason="child_refused",
    )
    result, teams = figures(app, world, "supervisor_a")
    assert len(result["months"]) == 12 and result["wait_bands"][0] == "Up to 2 days"
    assert teams == {
        "Team-A": {
            "children_seen": 2,
            "seen_alone": 1,
            "timed": 2,
            "in_time": 1,
            "late": 1,
            "waits": [2, 0, 0, 0],
            "months": 12,
        }
    }
    this_month = result["teams"][0].months[-1]
    assert this_month.month == date.today().replace(day=1)
    # Another team's supervisor sees none of it; the manager sees it.
    assert figures(app, world, "supervisor_b")[1] == {}
    assert figures(app, world, "manager")[1]["Team-A"]["timed"] == 2


def test_the_plan_in_force_on_the_day():
    # The rule moved out of the dashboard (it now adds up a stored flag): plans are (start, type).
    plans = [(date(2026, 1, 1), "child_in_need"), (date(2026, 3, 1), "child_protection")]
    current = (date(2026, 6, 1), "care_leaver")
    assert plan_in_force(plans, date(2026, 2, 1), current) == (date(2026, 1, 1), "child_in_need")
    assert plan_in_force(plans, date(2026, 3, 1), current) == (date(2026, 3, 1), "child_protection")
    assert plan_in_force(plans, date(2025, 12, 1), current) == (date(2026, 6, 1), "care_leaver")
