"""Alert emails reach a real SMTP server (aiosmtpd on loopback) through the outbox worker, and
GOV.UK Notify's official client reaches a local stand-in that checks what it is sent.

Nothing a child or a care leaver wrote, and no name or contact detail, is in any message.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from sqlalchemy import select, update

from service.alerts import operations
from service.alerts.models import Alert
from service.alerts.scan import _finished, scan
from service.auth.models import Team, User
from service.cases.models import Child
from service.core_system import worker as outbox_worker
from service.core_system.adapters import DeliveryFailed
from service.core_system.models import ALERT, MessageStatus, OutboxMessage
from service.extensions import db
from tests.api.test_feedback_urgent import post
from tests.factories import (
    CONTACT_DETAIL,
    CONTACT_NAME,
    OWN_WORDS,
    URGENT_MESSAGE,
    make_case,
    make_child,
)
from tests.outbox_support import OutboxWorker, fill_outbox, make_visits
from tests.smtpserver import SMTPServer, make_certificates

PUBLIC = "https://visits.council.test"
SENDER = "alerts@council.test"
DUTY = "duty@council.test"
PRIVATE = (URGENT_MESSAGE, CONTACT_NAME, CONTACT_DETAIL, OWN_WORDS)


@pytest.fixture(autouse=True)
def _a_fresh_worker_process():
    """Each test's worker passes are a new process's: none has finished today's scan."""
    _finished.clear()
    yield
    _finished.clear()


@pytest.fixture
def smtp():
    server = SMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail(app, smtp, monkeypatch):
    """The app's alerts emailed through the SMTP server, links under PUBLIC."""
    settings = {
        "ALERTS_SMTP_URL": smtp.url,
        "ALERTS_FROM": SENDER,
        "ALERTS_URGENT_FEEDBACK_TO": (DUTY,),
        "PUBLIC_BASE_URL": PUBLIC,
        "OUTBOX_BACKOFF_SECONDS": 1,
        "OUTBOX_BACKOFF_MAX_SECONDS": 1,
    }
    for name, value in settings.items():
        monkeypatch.setitem(app.config, name, value)
    return smtp


def names_in_database(app):
    with app.app_context():
        return [name for name in db.session.scalars(select(Child.name))]


def assert_nothing_private(app, texts):
    private = (*PRIVATE, *names_in_database(app))
    for text in texts:
        for secret in private:
            assert secret not in text, f"{secret!r} is in a message"


def deliver_due(app):
    """One pass of the real outbox worker loop, in this process."""
    with app.app_context():
        return outbox_worker.run(threading.Event(), once=True)


def alert_rows(app):
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.destination == ALERT)
                .order_by(OutboxMessage.id)
            )
        )
        db.session.expunge_all()
        return rows


def test_an_urgent_form_reaches_the_duty_inbox_within_a_minute_through_the_worker(
    app, world, client, mail, tmp_path
):
    worker_settings = {
        "ALERTS_SMTP_URL": mail.url,
        "ALERTS_FROM": SENDER,
        "PUBLIC_BASE_URL": PUBLIC,
        "OUTBOX_POLL_MS": 100,
    }
    database = app.config["SQLALCHEMY_DATABASE_URI"]
    with OutboxWorker(database, worker_settings, tmp_path / "worker.log") as running:
        started = time.monotonic()
        response = post(
            client,
            urgent="y",
            anything_else=URGENT_MESSAGE,
            wants_contact="y",
            contact_name=CONTACT_NAME,
            contact_detail=CONTACT_DETAIL,
        )
        assert response.status_code == 302
        (received,) = mail.wait_for(1, timeout=60)
        elapsed = received.at - started
        assert running.stop() == 0, running.log()
    print(f"urgent form to the duty inbox: {elapsed:.2f} s")
    assert elapsed < 60
    assert received.recipients == [DUTY] and received.mail_from == SENDER
    assert received.subject == "Seen and Heard: Urgent: a care leaver has asked for help now"
    assert f"{PUBLIC}/desk/feedback/" in received.body
    assert "Host" not in received.body
    assert_nothing_private(app, [received.subject, received.body, received.message.as_string()])
    (row,) = alert_rows(app)
    assert row.status == MessageStatus.DELIVERED and row.attempts == 1


def due_children(app, username):
    with app.app_context():
        user = db.session.scalars(select(User).where(User.username == username)).one()
        team = db.session.scalars(select(Team).where(Team.members.contains(user))).first()
        children = [make_child(plan_start_date=date.today() - timedelta(days=60)) for _ in range(2)]
        make_case(team, user, children)
        operations.set_address(user, "worker.a@council.test")
        db.session.commit()


def test_a_worker_with_two_children_due_gets_one_digest_naming_neither(
    app, world, mail, monkeypatch
):
    monkeypatch.setitem(app.config, "ALERTS_DIGEST_HOUR", 0)  # whatever the hour the test runs
    due_children(app, world.usernames["worker_a"])
    # Each pass of the worker loop runs the scan first, then delivers: two passes, one digest.
    deliver_due(app)
    deliver_due(app)
    with app.app_context():
        assert scan()["visits_due"] == 0
    to_worker = [m for m in mail.messages if m.recipients == ["worker.a@council.test"]]
    (digest,) = to_worker
    assert digest.subject == "Seen and Heard: Statutory visits due or overdue"
    assert "2 children's statutory visits are due within 2 working days" in digest.body
    # A social worker's caseload, worst first, is the tablet app's first screen.
    assert f"{PUBLIC}/app/" in digest.body
    assert_nothing_private(app, [digest.subject, digest.body])


def test_smtp_down_then_back_delivers_exactly_once(app, world, client, mail):
    mail.stop()
    post(client, urgent="y", anything_else=URGENT_MESSAGE)
    assert deliver_due(app) == 1
    (row,) = alert_rows(app)
    assert row.status == MessageStatus.PENDING and row.last_error.startswith("smtp: cannot reach")
    assert DUTY not in row.last_error
    mail.start()
    with app.app_context():
        db.session.execute(update(OutboxMessage).values(next_attempt_at=datetime.now(UTC)))
        db.session.commit()
    assert deliver_due(app) == 1
    assert deliver_due(app) == 0
    time.sleep(0.5)
    assert len(mail.messages) == 1
    (row,) = alert_rows(app)
    assert row.status == MessageStatus.DELIVERED and row.attempts == 2


def test_a_recipient_refused_for_good_is_a_dead_letter_the_admin_can_see(
    app, world, client, mail, monkeypatch
):
    monkeypatch.setitem(app.config, "ALERTS_URGENT_FEEDBACK_TO", ("nobody@invalid",))

    async def refuse(server, session, envelope, address, rcpt_options):
        return "550 No such user here"

    mail.inbox.handle_RCPT = refuse
    with app.app_context():
        admin = db.session.scalars(
            select(User).where(User.username == world.usernames["admin"])
        ).one()
        operations.set_address(admin, "admin@council.test")
        db.session.commit()
        admin_id = admin.id
    post(client, urgent="y", anything_else=URGENT_MESSAGE)
    deliver_due(app)
    # The urgent email that never arrived tells the admins, in the service and by email; that
    # email refused too is one more alert in the service, and no more email: no endless chain.
    deliver_due(app)
    assert deliver_due(app) == 0
    duty, to_admin = alert_rows(app)
    assert duty.status == MessageStatus.DEAD and duty.last_status == 550
    assert duty.payload["kind"] == "urgent_feedback"
    assert to_admin.status == MessageStatus.DEAD and to_admin.payload["kind"] == "delivery_dead"
    with app.app_context():
        told = db.session.scalars(select(Alert.path).where(Alert.user_id == admin_id)).all()
    assert sorted(told) == sorted(
        [f"/desk/admin/outbox/{duty.id}", f"/desk/admin/outbox/{to_admin.id}"]
    )
    del mail.inbox.handle_RCPT


class RefusingCoreSystem:
    """A core system that refuses every message for good (as a 422 would)."""

    name = "refusing"

    def deliver(self, key: str, body: dict[str, Any]):
        raise DeliveryFailed("core system refused: invalid_person_ref", retryable=False, status=422)


def test_a_core_delivery_dead_lettered_alerts_the_admins(app, world, mail):
    with app.app_context():
        admin = db.session.scalars(
            select(User).where(User.username == world.usernames["admin"])
        ).one()
        operations.set_address(admin, "admin@council.test")
        fill_outbox(make_visits(1), 1)
        db.session.commit()
        (claimed,) = outbox_worker.claim("test-worker", 10)
        assert outbox_worker.deliver(RefusingCoreSystem(), "test-worker", claimed) == "dead"
        alerts = list(db.session.scalars(select(Alert).where(Alert.user_id == admin.id)))
        assert [a.kind for a in alerts] == ["delivery_dead"]
        assert alerts[0].path == f"/desk/admin/outbox/{claimed.id}"
    deliver_due(app)
    (received,) = mail.messages
    assert received.recipients == ["admin@council.test"]
    assert f"{PUBLIC}/desk/admin/outbox/{claimed.id}" in received.body


class NotifyStandIn:
    """GOV.UK Notify's email endpoint on loopback: checks the JWT and the body it is sent."""

    def __init__(self, service_id: str, secret: str) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer = 201
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                claims = jwt.decode(token, secret, algorithms=["HS256"])
                stand_in.requests.append(
                    {
                        "path": self.path,
                        "body": body,
                        "claims": claims,
                        "headers": dict(self.headers),
                    }
                )
                assert claims["iss"] == service_id
                status = stand_in.answer
                answer = (
                    {"id": str(uuid.uuid4()), "reference": body.get("reference")}
                    if status == 201
                    else {"status_code": status, "errors": [{"error": "BadRequestError"}]}
                )
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


SERVICE_ID = str(uuid.uuid4())
NOTIFY_SECRET = str(uuid.uuid4())
TEMPLATE = str(uuid.uuid4())


@pytest.fixture
def notify(app, monkeypatch):
    stand_in = NotifyStandIn(SERVICE_ID, NOTIFY_SECRET)
    settings = {
        "NOTIFY_API_KEY": f"seen_and_heard_test-{SERVICE_ID}-{NOTIFY_SECRET}",
        "NOTIFY_BASE_URL": stand_in.url,
        "NOTIFY_TEMPLATE_ID": TEMPLATE,
        "ALERTS_URGENT_FEEDBACK_TO": (DUTY,),
        "PUBLIC_BASE_URL": PUBLIC,
    }
    for name, value in settings.items():
        monkeypatch.setitem(app.config, name, value)
    yield stand_in
    stand_in.stop()


def test_notify_gets_the_template_the_address_and_no_child_content(app, world, client, notify):
    post(client, urgent="y", anything_else=URGENT_MESSAGE, contact_name=CONTACT_NAME)
    deliver_due(app)
    (request,) = notify.requests
    assert request["path"] == "/v2/notifications/email"
    body = request["body"]
    assert set(body) >= {"email_address", "template_id", "personalisation", "reference"}
    assert body["email_address"] == DUTY and body["template_id"] == TEMPLATE
    assert body["reference"].startswith("alert:")
    assert set(body["personalisation"]) == {"subject", "body", "link"}
    assert body["personalisation"]["link"].startswith(f"{PUBLIC}/desk/feedback/")
    assert request["claims"]["iat"] <= time.time() + 5
    assert_nothing_private(app, [json.dumps(body)])
    (row,) = alert_rows(app)
    assert row.status == MessageStatus.DELIVERED and row.core_reference


def test_notify_refusing_the_request_is_a_dead_letter_and_a_5xx_is_retried(
    app, world, client, notify
):
    notify.answer = 503
    post(client, urgent="y", anything_else=URGENT_MESSAGE)
    deliver_due(app)
    (row,) = alert_rows(app)
    assert row.status == MessageStatus.PENDING and row.last_status == 503
    notify.answer = 400
    with app.app_context():
        db.session.execute(update(OutboxMessage).values(next_attempt_at=datetime.now(UTC)))
        db.session.commit()
    deliver_due(app)
    (row,) = alert_rows(app)
    assert row.status == MessageStatus.DEAD and row.last_status == 400
    assert len(notify.requests) == 2


def test_alert_emails_show_in_the_admins_outbox_list_and_can_be_retried(
    app, world, client, mail, sign_in, monkeypatch
):
    monkeypatch.setitem(app.config, "ALERTS_URGENT_FEEDBACK_TO", ("nobody@invalid",))

    async def refuse(server, session, envelope, address, rcpt_options):
        return "550 No such user here"

    mail.inbox.handle_RCPT = refuse
    post(client, urgent="y", anything_else=URGENT_MESSAGE)
    deliver_due(app)
    del mail.inbox.handle_RCPT
    admin = sign_in(world.usernames["admin"])
    (listed,) = admin.get("/admin/outbox?destination=alert&status=dead").get_json()
    assert listed["destination"] == "alert" and listed["visit_id"] is None
    assert listed["event"] == "alert.urgent_feedback"
    assert "nobody@invalid" not in json.dumps(listed)
    assert admin.post(f"/admin/outbox/{listed['id']}/retry").status_code == 200
    deliver_due(app)  # the server takes it now
    assert len(mail.messages) == 1


def test_with_a_password_alerts_go_over_starttls_with_the_certificate_checked(
    app, world, client, monkeypatch, tmp_path
):
    ca, cert, key = make_certificates(tmp_path)
    relay = SMTPServer(tls=(cert, key), login=("alerts", "p@ss word")).start()
    try:
        settings = {
            "ALERTS_SMTP_URL": f"smtp://alerts:p%40ss%20word@127.0.0.1:{relay.port}",
            "ALERTS_FROM": SENDER,
            "ALERTS_URGENT_FEEDBACK_TO": (DUTY,),
            "PUBLIC_BASE_URL": PUBLIC,
            "ALERTS_SMTP_CA_FILE": str(ca),
        }
        for name, value in settings.items():
            monkeypatch.setitem(app.config, name, value)
        post(client, urgent="y", anything_else=URGENT_MESSAGE)
        deliver_due(app)
        (received,) = relay.messages
        assert received.recipients == [DUTY]
        assert relay.logins == [("alerts", True)]  # signed in only once TLS was up
        # A certificate no trusted CA signed: nothing is sent, the password never leaves.
        monkeypatch.setitem(app.config, "ALERTS_SMTP_CA_FILE", None)
        post(client, urgent="y", anything_else=URGENT_MESSAGE)
        deliver_due(app)
        assert len(relay.messages) == 1 and len(relay.logins) == 1
        waiting = [row for row in alert_rows(app) if row.status == MessageStatus.PENDING]
        assert [row.last_error for row in waiting] == [
            "smtp: cannot reach the server (SSLCertVerificationError)"
        ]
    finally:
        relay.stop()


def test_with_a_password_a_relay_without_starttls_gets_nothing(
    app, world, client, mail, monkeypatch
):
    monkeypatch.setitem(
        app.config, "ALERTS_SMTP_URL", f"smtp://alerts:secret@127.0.0.1:{mail.port}"
    )
    post(client, urgent="y", anything_else=URGENT_MESSAGE)
    deliver_due(app)
    (row,) = alert_rows(app)
    assert row.status == MessageStatus.PENDING and "secret" not in row.last_error
    assert mail.messages == []


def test_an_urgent_email_is_claimed_before_the_digests_queued_earlier(app, world, mail):
    """A morning's digests, however many, do not hold back "I need help now"."""
    with app.app_context():
        for n in range(3):
            operations.queue_email("visits_due", f"day-{n}", "/desk/overdue", 2, f"w{n}@c.test")
        operations.queue_email("urgent_feedback", "feedback-1", "/desk/feedback/1", 1, DUTY)
        db.session.commit()
        (first,) = outbox_worker.claim("test-worker", 1)
        assert first.payload["kind"] == "urgent_feedback"
        rest = outbox_worker.claim("test-worker", 10)
        assert [message.payload["kind"] for message in rest] == ["visits_due"] * 3
