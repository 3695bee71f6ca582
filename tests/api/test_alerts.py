"""Alerts in the service: raised in the event's transaction, one per person, own alerts only,
acknowledged once, the managers' view of urgent ones, preferences, and the daily scan.
"""

import threading
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from service.alerts.models import Alert
from service.alerts.scan import scan
from service.audit.models import AuditEvent
from service.auth.models import Team, User
from service.cases.models import Child
from service.core_system.models import ALERT, MessageStatus, OutboxMessage
from service.extensions import db
from tests.api.test_feedback_urgent import post
from tests.api.test_reviews import body_for, decide, submitted_visit
from tests.factories import URGENT_MESSAGE, make_case, make_child, make_user

TOMORROW_MORNING = datetime.now(UTC) + timedelta(days=1)


def alerts_of(app, username, kind=None):
    with app.app_context():
        query = select(Alert).join(User, User.id == Alert.user_id).where(User.username == username)
        if kind:
            query = query.where(Alert.kind == kind)
        rows = list(db.session.scalars(query))
        db.session.expunge_all()
        return rows


def alert_messages(app):
    with app.app_context():
        rows = list(
            db.session.scalars(select(OutboxMessage).where(OutboxMessage.destination == ALERT))
        )
        db.session.expunge_all()
        return rows


def test_an_urgent_form_alerts_every_manager_in_the_same_transaction(app, world, client, sign_in):
    assert post(client, urgent="y", anything_else=URGENT_MESSAGE).status_code == 302
    manager = sign_in(world.usernames["manager"])
    response = manager.get("/me/alerts")
    assert response.status_code == 200
    (alert,) = response.get_json()
    assert alert["kind"] == "urgent_feedback" and alert["urgent"] is True
    assert alert["count"] == 1 and alert["acknowledged_at"] is None
    assert alert["link"].startswith("http://127.0.0.1:5000/desk/feedback/")
    assert URGENT_MESSAGE not in response.get_data(as_text=True)
    # Nobody else was told, and with no channel configured nothing is queued to be emailed.
    assert sign_in(world.usernames["supervisor_a"]).get("/me/alerts").get_json() == []
    assert alert_messages(app) == []


def test_a_non_urgent_form_alerts_nobody(app, world, client):
    assert post(client, anything_else="Fine thanks", life_satisfaction="7").status_code in (
        302,
        400,
    )
    assert alerts_of(app, world.usernames["manager"]) == []


def test_duty_contacts_get_an_email_queued_in_the_outbox(app, world, client, monkeypatch):
    monkeypatch.setitem(app.config, "ALERTS_SMTP_URL", "smtp://127.0.0.1:1")
    monkeypatch.setitem(app.config, "ALERTS_FROM", "alerts@council.test")
    monkeypatch.setitem(
        app.config, "ALERTS_URGENT_FEEDBACK_TO", ("duty@council.test", "ooh@council.test")
    )
    post(client, urgent="y", anything_else=URGENT_MESSAGE)
    messages = alert_messages(app)
    assert sorted(m.payload["to"] for m in messages) == ["duty@council.test", "ooh@council.test"]
    for message in messages:
        assert message.status == MessageStatus.PENDING and message.visit_id is None
        assert message.event == "alert.urgent_feedback"
        assert URGENT_MESSAGE not in str(message.payload)


def test_own_alerts_only_acknowledge_is_idempotent_and_the_manager_sees_how_fast(
    app, world, client, sign_in
):
    with app.app_context():
        make_user("manager", username="manager.two")
        db.session.commit()
    post(client, urgent="y", anything_else=URGENT_MESSAGE)
    manager = sign_in(world.usernames["manager"])
    other = sign_in("manager.two")
    (mine,) = manager.get("/me/alerts").get_json()
    (theirs,) = other.get("/me/alerts").get_json()
    # Another person's alert is a 404, as a missing one.
    assert manager.post(f"/me/alerts/{theirs['id']}/acknowledge").status_code == 404
    assert manager.post("/me/alerts/999999/acknowledge").status_code == 404
    first = manager.post(f"/me/alerts/{mine['id']}/acknowledge")
    assert first.status_code == 200 and first.get_json()["acknowledged_at"]
    again = manager.post(f"/me/alerts/{mine['id']}/acknowledge")
    assert again.status_code == 200
    assert again.get_json()["acknowledged_at"] == first.get_json()["acknowledged_at"]
    with app.app_context():
        # Recorded once: acknowledging again changed nothing.
        acknowledged = select(func.count()).where(
            AuditEvent.record_type == "alert", AuditEvent.record_id == str(mine["id"])
        )
        assert db.session.scalar(acknowledged) == 1
    assert manager.get("/me/alerts?acknowledged=false").get_json() == []
    assert len(manager.get("/me/alerts?acknowledged=true").get_json()) == 1

    view = manager.get("/alerts/urgent")
    assert view.status_code == 200
    rows = {row["recipient"]["username"]: row for row in view.get_json()}
    assert rows[world.usernames["manager"]]["acknowledged"] is True
    assert rows[world.usernames["manager"]]["seconds_to_acknowledge"] >= 0
    assert rows["manager.two"]["acknowledged"] is False
    assert rows["manager.two"]["seconds_to_acknowledge"] is None
    assert len(manager.get("/alerts/urgent?acknowledged=false").get_json()) == 1
    assert sign_in(world.usernames["supervisor_a"]).get("/alerts/urgent").status_code == 403
    assert manager.get("/me/alerts?kind=nonsense").status_code == 422


def test_preferences_cannot_switch_off_a_mandatory_kind(app, world, sign_in):
    worker = sign_in(world.usernames["worker_a"])
    shown = worker.get("/me/alert-preferences").get_json()
    assert shown["muted"] == [] and "urgent_feedback" in shown["mandatory"]
    refused = worker.put("/me/alert-preferences", json={"muted": ["urgent_feedback"]})
    assert refused.status_code == 422 and refused.get_json()["code"] == "alert.mandatory"
    assert worker.put("/me/alert-preferences", json={"muted": [], "x": 1}).status_code == 422
    assert worker.put("/me/alert-preferences", json={"muted": ["nonsense"]}).status_code == 422
    ok = worker.put("/me/alert-preferences", json={"muted": ["visits_due"]})
    assert ok.status_code == 200 and ok.get_json()["muted"] == ["visits_due"]
    with app.app_context():
        (event,) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.record_type == "alert_preferences")
        )
        assert event.action == "update" and event.details["muted"] == ["visits_due"]


def test_redirecting_someones_alerts_is_audited_without_the_address(app, world):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["alerts", "address", world.usernames["worker_a"], "worker.a@council.test"]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        (event,) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.record_type == "alert_preferences")
        )
        assert event.changed_fields == ["email"] and event.actor_id is None
        assert "council.test" not in str(event.details)


def due_children(app, world):
    """Two of worker_a's children overdue (case a1), the third (a2) not due for weeks."""
    with app.app_context():
        team = db.session.get(Team, uuid.UUID(world.team_ids["a"]))
        worker = db.session.scalars(
            select(User).where(User.username == world.usernames["worker_a"])
        ).one()
        overdue = [make_child(plan_start_date=date.today() - timedelta(days=60)) for _ in range(2)]
        make_case(team, worker, overdue)
        db.session.commit()
        return [child.name for child in overdue]


def test_the_daily_scan_makes_one_digest_per_person_however_often_it_runs(app, world, sign_in):
    due_children(app, world)
    with app.app_context():
        made = scan(TOMORROW_MORNING.replace(hour=10))
        assert made["visits_due"] >= 2
        assert scan(TOMORROW_MORNING.replace(hour=11))["visits_due"] == 0
    (digest,) = alerts_of(app, world.usernames["worker_a"], "visits_due")
    assert digest.count == 2
    (digest,) = alerts_of(app, world.usernames["supervisor_a"], "visits_due")
    assert digest.count >= 2
    assert alerts_of(app, world.usernames["worker_b"], "visits_due") == [] or all(
        a.count for a in alerts_of(app, world.usernames["worker_b"], "visits_due")
    )


def test_two_scans_at_once_still_make_one_digest_each(app, world):
    due_children(app, world)
    moment = TOMORROW_MORNING.replace(hour=9)
    errors = []

    def scan_in_thread():
        try:
            with app.app_context():
                scan(moment)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=scan_in_thread) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with app.app_context():
        per_person = db.session.execute(
            select(Alert.user_id, func.count())
            .where(Alert.kind == "visits_due")
            .group_by(Alert.user_id)
        ).all()
    assert per_person and all(count == 1 for _, count in per_person)


def test_before_the_digest_hour_the_scan_waits(app, world):
    due_children(app, world)
    with app.app_context():
        early = TOMORROW_MORNING.replace(hour=2)
        assert scan(early) == {}
    assert alerts_of(app, world.usernames["worker_a"]) == []


def test_a_visit_waiting_for_review_and_an_overdue_decision_alert_supervisors(
    app, world, worker, supervisor, sign_in
):
    waiting, _ = submitted_visit(worker, body_for(app, world, "a2"))
    body = body_for(app, world)
    body["children"][1] = {
        "child_id": body["children"][1]["child_id"],
        "seen": False,
        "not_seen_reason": "child_not_home",
    }
    visit_id, etag = submitted_visit(worker, body)
    due = date.today() + timedelta(days=1)
    decided = decide(
        supervisor,
        visit_id,
        etag,
        decision="approve",
        management_decision={"action": "Revisit", "due_by": due.isoformat()},
    )
    assert decided.status_code == 201
    with app.app_context():
        made = scan(datetime.now(UTC).replace(hour=12) + timedelta(days=14))
    assert made["review_waiting"] >= 1 and made["decision_overdue"] >= 2
    (review,) = alerts_of(app, world.usernames["supervisor_a"], "review_waiting")
    assert review.count == 1 and review.path == f"/desk/visits/{waiting}"
    (decision,) = alerts_of(app, world.usernames["supervisor_a"], "decision_overdue")
    assert decision.count == 1 and decision.path.startswith("/desk/children/")
    assert len(alerts_of(app, world.usernames["manager"], "decision_overdue")) == 1
    assert alerts_of(app, world.usernames["supervisor_b"], "review_waiting") == []
    with app.app_context():
        names = [c.name for c in db.session.scalars(select(Child))]
    for alert in sign_in(world.usernames["supervisor_a"]).get("/me/alerts").get_json():
        assert not any(name in str(alert) for name in names)


def test_a_muted_kind_is_not_emailed_but_stays_listed(app, world, sign_in, monkeypatch):
    from service.alerts.operations import set_address

    monkeypatch.setitem(app.config, "ALERTS_SMTP_URL", "smtp://127.0.0.1:1")
    monkeypatch.setitem(app.config, "ALERTS_FROM", "alerts@council.test")
    due_children(app, world)
    with app.app_context():
        for key, address in (("worker_a", "a@council.test"), ("supervisor_a", "s@council.test")):
            user = db.session.scalars(
                select(User).where(User.username == world.usernames[key])
            ).one()
            set_address(user, address)
        db.session.commit()
    worker = sign_in(world.usernames["worker_a"])
    assert worker.put("/me/alert-preferences", json={"muted": ["visits_due"]}).status_code == 200
    assert worker.get("/me/alert-preferences").get_json()["email"] == "a@council.test"
    with app.app_context():
        scan(TOMORROW_MORNING.replace(hour=10))
    assert [a["kind"] for a in worker.get("/me/alerts").get_json()] == ["visits_due"]
    assert [m.payload["to"] for m in alert_messages(app)] == ["s@council.test"]


def test_nothing_waiting_tells_nobody(app, world):
    with app.app_context():
        made = scan(TOMORROW_MORNING.replace(hour=10))
        assert made == {"visits_due": 0, "review_waiting": 0, "decision_overdue": 0}
        assert db.session.scalar(select(func.count()).select_from(Alert)) == 0


def test_the_worker_scans_once_a_day_per_process(app, world, monkeypatch):
    from service.alerts.scan import _finished, scan_if_not_done_today

    monkeypatch.setitem(app.config, "ALERTS_DIGEST_HOUR", 0)
    _finished.clear()
    try:
        with app.app_context():
            assert set(scan_if_not_done_today()) == {
                "visits_due",
                "review_waiting",
                "decision_overdue",
            }
            assert scan_if_not_done_today() == {}
    finally:
        _finished.clear()


def test_an_email_held_for_the_quiet_hours_is_waiting_but_not_late(app):
    from service.core_system.outbox import backlog
    from service.core_system.payload import digest

    body = {"kind": "visits_due", "count": 2, "path": "/desk/overdue", "to": "a@council.test"}
    now = datetime.now(UTC)
    with app.app_context():
        db.session.add(
            OutboxMessage(
                destination=ALERT,
                event="alert.visits_due",
                idempotency_key=f"alert:{uuid.uuid4().hex}",
                payload=body,
                payload_sha256=digest(body),
                status=MessageStatus.PENDING,
                attempts=0,
                next_attempt_at=now + timedelta(hours=9),
                created_at=now - timedelta(hours=1),
            )
        )
        db.session.commit()
        summary = backlog()
    # A monitor on the oldest waiting message's age must not go off every night.
    assert summary["pending"] == 1 and summary["oldest_undelivered_seconds"] is None
