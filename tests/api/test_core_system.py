"""Approved visits go to the core case system through the outbox (here the local registry).

What a user notices: an approval leaves a message behind in the same transaction; the worker
delivers it once; the visit says where its delivery is; an amendment follows its original and
never overtakes it; an admin sees and retries what failed; nothing else is sent.
"""

import threading
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from service.audit.models import AuditEvent
from service.core_system import worker as outbox_worker
from service.core_system.models import LocalDelivery, MessageStatus, OutboxMessage
from service.extensions import db
from tests.api.test_evidence import upload
from tests.api.test_reviews import body_for, decide, submitted_visit
from tests.evidence_files import PDF
from tests.factories import OWN_WORDS


def approved_visit(app, world, worker, supervisor, case_key="a1", **overrides):
    visit_id, etag = submitted_visit(worker, body_for(app, world, case_key, **overrides))
    response = decide(supervisor, visit_id, etag, decision="approve")
    assert response.status_code == 201, response.get_json()
    return visit_id


def deliver_now(app):
    """What ``flask outbox run --once`` does: deliver everything due, then stop."""
    with app.app_context():
        return outbox_worker.run(threading.Event(), once=True)


def messages(app, visit_id=None):
    with app.app_context():
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if visit_id:
            query = query.where(OutboxMessage.visit_id == uuid.UUID(visit_id))
        found = list(db.session.scalars(query))
        db.session.expunge_all()
        return found


def test_an_approval_is_delivered_once_and_the_visit_says_so(app, world, worker, supervisor):
    visit_id = approved_visit(app, world, worker, supervisor)
    [message] = messages(app)
    assert (message.status, message.event, message.version_number) == (
        "pending",
        "visit.approved",
        1,
    )
    assert worker.get(f"/visits/{visit_id}").get_json()["delivery"]["state"] == "pending"

    assert deliver_now(app) == 1
    assert deliver_now(app) == 0
    delivery = worker.get(f"/visits/{visit_id}").get_json()["delivery"]
    assert delivery["state"] == "delivered"
    assert delivery["core_reference"].startswith("LOCAL-")
    assert delivery["delivered_at"] and delivery["version"] == 1
    listed = worker.get("/visits").get_json()
    assert listed[0]["delivery"]["state"] == "delivered"
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(LocalDelivery)) == 1
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "deliver")).all()
        # One event per child on the visit, each naming the child.
        assert events and all(e.record_id == visit_id and e.actor_id is None for e in events)
        assert all(e.child_id is not None for e in events)
        assert not any(OWN_WORDS in str(e.details) for e in events)


def test_the_payload_is_the_approved_record_in_the_councils_codes(app, world, worker, supervisor):
    body = body_for(app, world)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    body["children"][1] = {
        "child_id": body["children"][1]["child_id"],
        "seen": False,
        "not_seen_reason": "child_not_home",
    }
    visit_id, etag = submitted_visit(worker, body)
    decided = decide(
        supervisor,
        visit_id,
        etag,
        decision="approve",
        # Tomorrow: the visit's own date is yesterday in the first hours of a day.
        management_decision={"action": "Visit again tomorrow", "due_by": tomorrow},
    )
    assert decided.status_code == 201, decided.get_json()
    [message] = messages(app)
    sent = message.payload
    assert sent["contract"] == "seen-and-heard.core-visit/1"
    assert sent["external_reference"]["visit_id"] == visit_id
    assert sent["external_reference"]["version"] == 1
    assert message.idempotency_key == f"seen-and-heard:{visit_id}:v1"
    seen, not_seen = sent["children"]
    assert seen["dataset"]["table"] == "ssd_cp_visits"
    assert seen["dataset"]["fields"] == {
        "cppv_cp_visit_date": sent["visit"]["date"],
        "cppv_cp_visit_seen": "Y",
        "cppv_cp_visit_seen_alone": "Y",
        "cppv_cp_visit_bedroom": "Y",
    }
    assert not_seen["dataset"]["fields"]["cppv_cp_visit_seen"] == "N"
    assert not_seen["dataset"]["fields"]["cppv_cp_visit_seen_alone"] == "N"
    assert not_seen["not_seen_reason"] == "child_not_home"
    assert seen["voice"]["own_words"] == OWN_WORDS
    assert seen["person_ref"] and "name" not in seen
    assert sent["visit"]["analysis"] == "No new concerns."
    assert sent["review"]["management_decision"]["action"] == "Visit again tomorrow"
    assert sent["review"]["decision"] == "approve"


def test_evidence_is_linked_never_sent(app, world, worker, supervisor):
    visit_id = str(uuid.uuid4())
    body = body_for(app, world)
    assert worker.put(f"/visits/{visit_id}", json=body).status_code == 201
    stored = upload(
        worker, visit_id, PDF, kind="document", filename="plan.pdf", content_type="application/pdf"
    )
    assert stored.status_code == 201, stored.get_json()
    submitted = worker.post(f"/visits/{visit_id}/submit")
    decide(supervisor, visit_id, submitted.headers["ETag"], decision="approve")
    [message] = messages(app)
    [evidence] = message.payload["evidence"]
    assert evidence["id"] == stored.get_json()["id"]
    assert evidence["href"].endswith(f"/api/v1/attachments/{evidence['id']}/content")
    assert evidence["sha256"] and "data" not in evidence and "filename" not in evidence


def test_only_approvals_are_sent_and_a_refused_approval_sends_nothing(
    app, world, worker, supervisor
):
    visit_id, etag = submitted_visit(worker, body_for(app, world))
    assert decide(supervisor, visit_id, '"999"', decision="approve").status_code == 412
    assert decide(supervisor, visit_id, etag, decision="return", comment="Add the analysis")
    assert messages(app) == []
    assert worker.get(f"/visits/{visit_id}").get_json()["delivery"] is None


def test_an_amendment_follows_its_original_never_before(app, world, worker, supervisor):
    visit_id = approved_visit(app, world, worker, supervisor)
    current = worker.get(f"/visits/{visit_id}")
    amended = worker.post(
        f"/visits/{visit_id}/amend",
        json={"reason": "Wrong date recorded"},
        headers={"If-Match": current.headers["ETag"]},
    )
    assert amended.status_code == 200
    resubmitted = worker.post(f"/visits/{visit_id}/submit")
    assert decide(supervisor, visit_id, resubmitted.headers["ETag"], decision="approve")
    first, second = messages(app, visit_id)
    assert (second.event, second.version_number) == ("visit.amendment_approved", 2)
    assert second.payload["external_reference"]["supersedes_version"] == 1

    with app.app_context():
        # The original is in a worker's hands: the amendment cannot be claimed past it.
        held = outbox_worker.claim("worker-1", limit=1)
        assert [m.id for m in held] == [first.id]
        assert outbox_worker.claim("worker-2", limit=10) == []
        outbox_worker.deliver(outbox_worker.core_system(), "worker-1", held[0])
        [then] = outbox_worker.claim("worker-2", limit=10)
        assert then.id == second.id
        outbox_worker.release("worker-2", [then])
    deliver_now(app)
    with app.app_context():
        order = list(
            db.session.scalars(select(LocalDelivery.version_number).order_by(LocalDelivery.id))
        )
    assert order == [1, 2]
    assert worker.get(f"/visits/{visit_id}").get_json()["delivery"]["version"] == 2


def test_admins_see_and_retry_dead_letters(app, world, worker, supervisor, sign_in):
    visit_id = approved_visit(app, world, worker, supervisor)
    admin = sign_in(world.usernames["admin"])
    assert supervisor.get("/admin/outbox").status_code == 403
    [listed] = admin.get("/admin/outbox").get_json()
    assert listed["status"] == "pending" and "payload" not in listed
    not_dead = admin.post(f"/admin/outbox/{listed['id']}/retry")
    assert (not_dead.status_code, not_dead.get_json()["code"]) == (409, "outbox.not_dead")
    with app.app_context():
        db.session.execute(
            db.update(OutboxMessage).values(
                status=MessageStatus.DEAD, attempts=15, last_error="HTTP 422 from the core system"
            )
        )
        db.session.commit()
    delivery = worker.get(f"/visits/{visit_id}").get_json()["delivery"]
    assert delivery["state"] == "dead_letter" and delivery["last_error"].startswith("HTTP 422")
    assert deliver_now(app) == 0
    assert [m["id"] for m in admin.get("/admin/outbox?status=dead").get_json()] == [listed["id"]]
    assert admin.get("/admin/outbox?status=bogus").status_code == 422

    retried = admin.post(f"/admin/outbox/{listed['id']}/retry")
    assert retried.status_code == 200
    assert (retried.get_json()["status"], retried.get_json()["attempts"]) == ("pending", 0)
    assert deliver_now(app) == 1
    assert admin.post(f"/admin/outbox/{listed['id']}/retry").status_code == 409
    assert admin.post("/admin/outbox/999999/retry").status_code == 404
    assert admin.post(f"/admin/outbox/{10**30}/retry").status_code == 404
    with app.app_context():
        assert db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "retry")
        ).one().record_id == str(listed["id"])


def test_readiness_reports_the_oldest_undelivered_message(app, world, worker, supervisor, client):
    assert client.get("/readyz").get_json()["outbox"]["oldest_undelivered_seconds"] is None
    approved_visit(app, world, worker, supervisor)
    outbox = client.get("/readyz").get_json()["outbox"]
    assert outbox["pending"] == 1 and outbox["oldest_undelivered_seconds"] >= 0
    deliver_now(app)
    assert client.get("/readyz").get_json()["outbox"]["pending"] == 0


def test_outbox_commands(app, world, worker, supervisor):
    visit_id = approved_visit(app, world, worker, supervisor)
    runner = app.test_cli_runner()
    status = runner.invoke(args=["outbox", "status"])
    assert status.exit_code == 0 and "pending: 1" in status.output
    ran = runner.invoke(args=["outbox", "run", "--once"])
    assert ran.exit_code == 0, ran.output
    assert "delivered: 1" in runner.invoke(args=["outbox", "status"]).output
    reconciled = runner.invoke(args=["outbox", "reconcile"])
    assert reconciled.exit_code == 0 and "All 1 delivered" in reconciled.output
    with app.app_context():
        db.session.execute(db.delete(LocalDelivery))
        db.session.commit()
    missing = runner.invoke(args=["outbox", "reconcile"])
    assert missing.exit_code == 1 and f"visit {visit_id} version 1: missing" in missing.output
    assert runner.invoke(args=["outbox", "retry"]).exit_code == 2


def test_visits_approved_before_delivery_existed_can_be_queued_once(app, world, worker, supervisor):
    visit_id = approved_visit(app, world, worker, supervisor)
    with app.app_context():  # as if approved before this release
        db.session.execute(db.delete(OutboxMessage))
        db.session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["outbox", "backfill"])
    assert first.exit_code == 0 and "1 approved visits queued" in first.output
    assert "0 approved visits queued" in runner.invoke(args=["outbox", "backfill"]).output
    [message] = messages(app)
    assert (message.visit_id, message.event) == (uuid.UUID(visit_id), "visit.approved")
    assert message.payload["review"]["decision"] == "approve"
