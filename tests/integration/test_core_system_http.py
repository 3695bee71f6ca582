"""Delivery to a core case system over real HTTP: the stand-in on loopback, workers as processes.

The stand-in (``tests/coresystem.py``) logs every request it receives; what it logged is what
these tests check: each approved version arrives once (a resend is a logged replay), in order,
after outages, errors, timeouts, an expired token, two workers at once, and a worker killed
between sending and marking.
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask_migrate import upgrade
from sqlalchemy import select

from service import create_app
from service.cases.models import Case
from service.core_system import worker as outbox_worker
from service.core_system.adapters import DeliveryFailed, HttpCoreSystem
from service.core_system.models import OutboxMessage
from service.extensions import db
from tests.conftest import empty_database, fresh_postgres_database
from tests.coresystem import CoreSystemServer
from tests.factories import (
    FAST_TEST_SETTINGS,
    OBSERVATIONS,
    OWN_WORDS,
    PASSWORD,
    make_case,
    make_team,
    make_user,
)
from tests.factories import visit_body as complete_visit
from tests.outbox_support import (
    OutboxWorker,
    core_system_settings,
    counts_by_status,
    fill_outbox,
    make_visits,
    wait_for,
)

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def core() -> Iterator[CoreSystemServer]:
    server = CoreSystemServer(token_lifetime=300).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def core_app(database_url, core, tmp_path_factory):
    settings = core_system_settings(core.url, core.token_url)
    application = create_app(
        {
            **FAST_TEST_SETTINGS,
            **settings,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "EVIDENCE_STORE": f"file://{tmp_path_factory.mktemp('evidence')}",
        }
    )
    with application.app_context():
        upgrade()
        db.session.remove()
    application.config["TEST_WORKER_SETTINGS"] = settings
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean(request):
    yield
    if "core_app" not in request.fixturenames:
        return
    application = request.getfixturevalue("core_app")
    request.getfixturevalue("core").reset()
    empty_database(application)


@pytest.fixture
def start_worker(core_app, database_url, tmp_path):
    """``start_worker()`` runs ``flask outbox run`` as a process; all are killed afterwards."""
    started: list[OutboxWorker] = []

    def start(**overrides) -> OutboxWorker:
        settings = {**core_app.config["TEST_WORKER_SETTINGS"], **overrides}
        log = tmp_path / f"worker{len(started)}.log"
        worker = OutboxWorker(database_url, settings, log).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.__exit__()


class Council:
    """One worker and one supervisor on one case, signed in to the in-process app."""

    def __init__(self, application):
        self.app = application
        self.client = application.test_client()
        with application.app_context():
            team = make_team()
            worker = make_user("social_worker", [team])
            supervisor = make_user("supervisor", [team])
            case = make_case(team, worker, 2)
            self.case_id = case.id
            names = worker.username, supervisor.username
            db.session.commit()
        self.worker, self.supervisor = (self._sign_in(name) for name in names)

    def _sign_in(self, username):
        tokens = self.client.post(
            "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
        ).get_json()
        return {"Authorization": f"Bearer {tokens['access_token']}"}

    def approve_new_visit(self) -> str:
        """Record, submit and approve a visit; returns its id."""
        visit_id = str(uuid.uuid4())
        with self.app.app_context():
            body = complete_visit(db.session.get(Case, self.case_id))
        put = self.client.put(f"/api/v1/visits/{visit_id}", json=body, headers=self.worker)
        assert put.status_code == 201, put.get_json()
        self._submit_and_approve(visit_id)
        return visit_id

    def amend(self, visit_id: str) -> None:
        """Amend the approved visit, submit and approve it again."""
        etag = self.client.get(f"/api/v1/visits/{visit_id}", headers=self.worker).headers["ETag"]
        amended = self.client.post(
            f"/api/v1/visits/{visit_id}/amend",
            json={"reason": "Wrong location recorded"},
            headers={**self.worker, "If-Match": etag},
        )
        assert amended.status_code == 200, amended.get_json()
        self._submit_and_approve(visit_id)

    def _submit_and_approve(self, visit_id: str) -> None:
        submitted = self.client.post(f"/api/v1/visits/{visit_id}/submit", headers=self.worker)
        assert submitted.status_code == 200, submitted.get_json()
        decided = self.client.post(
            f"/api/v1/visits/{visit_id}/review",
            json={"decision": "approve"},
            headers={**self.supervisor, "If-Match": submitted.headers["ETag"]},
        )
        assert decided.status_code == 201, decided.get_json()

    def delivery(self, visit_id: str) -> dict:
        return self.client.get(f"/api/v1/visits/{visit_id}", headers=self.worker).get_json()[
            "delivery"
        ]


def stored_posts(core) -> list[dict]:
    return [
        entry for entry in core.log() if entry["path"] == "/visits" and entry["method"] == "POST"
    ]


def assert_once_and_in_order(core, expected: dict[str, list[int]]) -> None:
    """Each visit's versions were stored once each, in version order; replays stored nothing."""
    stored = defaultdict(list)
    for item in core.received():
        stored[item["visit_id"]].append(item["version"])
    assert dict(stored) == expected


def in_app(application, function, *args):
    with application.app_context():
        try:
            return function(*args)
        finally:
            db.session.remove()


def test_an_approved_visit_reaches_the_core_system_within_seconds(core_app, core, start_worker):
    council = Council(core_app)
    worker = start_worker()
    visit_id = council.approve_new_visit()
    delivery = wait_for(
        lambda: (d := council.delivery(visit_id))["state"] == "delivered" and d, timeout=10
    )
    [received] = core.received()
    assert delivery["core_reference"] == received["reference"]
    assert received["key"] == f"seen-and-heard:{visit_id}:v1"
    assert received["body"]["children"][0]["dataset"]["fields"]["cppv_cp_visit_seen"] == "Y"
    assert [e["path"] for e in core.log()] == ["/oauth/token", "/visits"]
    assert worker.stop() == 0
    assert "delivering to the http core system" in worker.log()
    for private in (OWN_WORDS, OBSERVATIONS, "s3cret", "Bearer"):
        assert private not in worker.log()


def test_a_static_bearer_token_is_sent_and_a_wrong_one_retried_not_dropped(tmp_path):
    with CoreSystemServer(static_token="static-token-1") as static_core:
        right = HttpCoreSystem(
            {
                **core_system_settings(static_core.url, None),
                "CORE_SYSTEM_TOKEN": "static-token-1",
            }
        )
        body = {"external_reference": {"visit_id": "v-1", "version": 1}}
        assert right.deliver("key-1", body).reference == "CN-1"
        assert right.deliver("key-1", body).replay
        wrong = HttpCoreSystem(
            {**core_system_settings(static_core.url, None), "CORE_SYSTEM_TOKEN": "stale"}
        )
        with pytest.raises(DeliveryFailed) as refused:
            wrong.deliver("key-2", body)
        assert refused.value.retryable and refused.value.status == 401
        assert len(static_core.received()) == 1


def test_an_outage_then_everything_once_and_in_order(core_app, core, start_worker):
    council = Council(core_app)
    core.stop()
    try:
        start_worker()
        first, second = council.approve_new_visit(), council.approve_new_visit()
        council.amend(first)
        wait_for(lambda: council.delivery(first)["state"] == "failed", timeout=10)
        failed = council.delivery(first)
        assert "unreachable: ConnectionError" in failed["last_error"]
        assert failed["next_attempt_at"] and failed["version"] == 1
        assert council.delivery(second)["state"] == "failed"
    finally:
        core.start()
    wait_for(
        lambda: in_app(core_app, counts_by_status) == {"delivered": 3}, timeout=20, interval=0.3
    )
    assert_once_and_in_order(core, {first: [1, 2], second: [1]})
    assert council.delivery(first)["version"] == 2


@pytest.mark.parametrize(
    ("fault", "expected_error"),
    [
        ({"status": 500, "times": 2}, "HTTP 500"),
        ({"status": 503, "times": 1, "retry_after": 1}, "HTTP 503"),
        ({"status": 429, "times": 1, "retry_after": 1}, "HTTP 429"),
        ({"delay": 3, "times": 1}, "ReadTimeout"),
        ({"drop": True, "times": 1}, "core system unreachable"),
        ({"status": 200, "times": 1}, "HTTP 200 from the core system without a reference"),
    ],
)
def test_errors_and_timeouts_are_retried_until_delivered(
    core_app, core, start_worker, fault, expected_error
):
    council = Council(core_app)
    core.faults([{"path": "/visits", "method": "POST", **fault}])
    visit_id = council.approve_new_visit()
    worker = start_worker()
    wait_for(lambda: council.delivery(visit_id)["state"] == "delivered", timeout=20)
    assert_once_and_in_order(core, {visit_id: [1]})
    with core_app.app_context():
        message = db.session.scalars(select(OutboxMessage)).one()
        assert message.attempts == 1 + fault["times"]
        assert message.last_error is None
    assert expected_error in worker.log()


def test_429_waits_at_least_as_long_as_retry_after(core_app, core):
    council = Council(core_app)
    core.faults([{"status": 429, "times": 1, "retry_after": 30}])
    visit_id = council.approve_new_visit()
    core_app.config["OUTBOX_BACKOFF_MAX_SECONDS"] = 600
    try:
        with core_app.app_context():
            assert outbox_worker.run(threading.Event(), once=True) == 1
    finally:
        core_app.config["OUTBOX_BACKOFF_MAX_SECONDS"] = 2
    with core_app.app_context():
        message = db.session.scalars(select(OutboxMessage)).one()
        assert message.last_status == 429 and message.status == "pending"
        assert message.next_attempt_at > datetime.now(UTC) + timedelta(seconds=25)
    delivery = council.delivery(visit_id)
    assert delivery["state"] == "failed" and delivery["last_error"].startswith(
        "HTTP 429 from the core system"
    )


def test_a_refusal_that_will_never_succeed_is_a_dead_letter_an_admin_retries(
    core_app, core, start_worker
):
    council = Council(core_app)
    core.faults([{"status": 422, "times": 1}])
    visit_id = council.approve_new_visit()
    council_later = council.approve_new_visit()
    start_worker()
    wait_for(lambda: council.delivery(visit_id)["state"] == "dead_letter", timeout=10)
    wait_for(lambda: council.delivery(council_later)["state"] == "delivered", timeout=10)
    with core_app.app_context():
        admin = make_user("admin")
        db.session.commit()
        admin_name = admin.username
    admin_headers = council._sign_in(admin_name)
    dead = council.client.get("/api/v1/admin/outbox?status=dead", headers=admin_headers).get_json()
    assert [m["visit_id"] for m in dead] == [visit_id]
    assert dead[0]["attempts"] == 1 and dead[0]["last_status"] == 422
    retried = council.client.post(
        f"/api/v1/admin/outbox/{dead[0]['id']}/retry", headers=admin_headers
    )
    assert retried.status_code == 200
    wait_for(lambda: council.delivery(visit_id)["state"] == "delivered", timeout=10)
    assert_once_and_in_order(core, {council_later: [1], visit_id: [1]})


def test_a_wrong_client_secret_shows_and_ends_as_a_dead_letter(core_app, core, start_worker):
    council = Council(core_app)
    visit_id = council.approve_new_visit()
    start_worker(CORE_SYSTEM_CLIENT_SECRET="wrong", OUTBOX_MAX_ATTEMPTS=2)
    wait_for(lambda: council.delivery(visit_id)["state"] == "dead_letter", timeout=15)
    delivery = council.delivery(visit_id)
    assert delivery["last_error"] == "token endpoint refused the client: invalid_client"
    assert delivery["attempts"] == 2 and core.received() == []


def test_an_expired_token_is_renewed(core_app, core, start_worker):
    council = Council(core_app)
    start_worker()
    first = council.approve_new_visit()
    wait_for(lambda: council.delivery(first)["state"] == "delivered", timeout=10)
    core.expire_tokens()
    second = council.approve_new_visit()
    wait_for(lambda: council.delivery(second)["state"] == "delivered", timeout=10)
    paths = [(e["path"], e["status"]) for e in core.log()]
    assert paths[0] == ("/oauth/token", 200)
    assert paths.count(("/oauth/token", 200)) == 2
    assert_once_and_in_order(core, {first: [1], second: [1]})


def test_two_workers_at_once_deliver_each_message_once_in_order(core_app, core, start_worker):
    with core_app.app_context():
        # Few visits with many versions each: the versions of one visit sit close together in
        # the queue, so two workers would race to send them if the order were not enforced.
        visits = make_visits(4)
        total = fill_outbox(visits, versions=50)
        db.session.commit()
    workers = [start_worker(OUTBOX_BATCH_SIZE=5), start_worker(OUTBOX_BATCH_SIZE=5)]
    wait_for(
        lambda: in_app(core_app, counts_by_status) == {"delivered": total}, timeout=60, interval=0.5
    )
    posts = stored_posts(core)
    keys = [entry["idempotency_key"] for entry in posts]
    assert len(keys) == total and len(set(keys)) == total, "a message was sent twice"
    assert not any(entry["replay"] for entry in posts)
    assert_once_and_in_order(core, {str(v): list(range(1, 51)) for v in visits})
    for worker in workers:
        assert worker.stop() == 0
    with core_app.app_context():
        claimed_by = set(db.session.scalars(select(OutboxMessage.claimed_by)))
    assert len(claimed_by) == 2, "both workers took part"


def test_a_worker_killed_between_send_and_mark_resends_harmlessly(core_app, core, start_worker):
    council = Council(core_app)
    visit_id = council.approve_new_visit()
    core.faults([{"after_store": True, "delay": 1.5, "status": 201, "times": 1}])
    doomed = start_worker()
    wait_for(lambda: core.received(), timeout=10, interval=0.05)
    doomed.kill()  # the core system holds the visit; our row still says pending
    assert council.delivery(visit_id)["state"] == "pending"
    start_worker()
    wait_for(lambda: council.delivery(visit_id)["state"] == "delivered", timeout=20)
    posts = stored_posts(core)
    assert [entry["replay"] for entry in posts] == [False, True]
    assert_once_and_in_order(core, {visit_id: [1]})
    assert council.delivery(visit_id)["core_reference"] == core.received()[0]["reference"]


def test_a_stopped_worker_finishes_its_message_and_gives_back_the_rest(
    core_app, core, start_worker
):
    with core_app.app_context():
        fill_outbox(make_visits(10), versions=1)
        db.session.commit()
    core.faults([{"delay": 1.0, "times": -1, "status": 201, "after_store": True}])
    worker = start_worker(OUTBOX_BATCH_SIZE=10, CORE_SYSTEM_READ_TIMEOUT=5, OUTBOX_LEASE_SECONDS=60)
    wait_for(lambda: core.received(), timeout=10, interval=0.05)
    assert worker.stop() == 0
    core.clear_faults()
    with core_app.app_context():
        counts = counts_by_status()
        left = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.status == "pending")
        ).all()
    assert counts["delivered"] >= 1 and counts["delivered"] + counts.get("pending", 0) == 10
    assert all(m.claimed_until is None and m.attempts == 0 for m in left), "given back untried"


def test_reconcile_reports_what_the_core_system_lost_or_changed(core_app, core):
    council = Council(core_app)
    kept, lost, changed = (council.approve_new_visit() for _ in range(3))
    with core_app.app_context():
        outbox_worker.run(threading.Event(), once=True)
    core.forget(lost)
    held = next(item for item in core.received() if item["visit_id"] == changed)
    core.tamper(changed, {**held["body"], "visit": {**held["body"]["visit"], "analysis": "edited"}})
    result = core_app.test_cli_runner().invoke(args=["outbox", "reconcile"])
    assert result.exit_code == 1
    assert f"visit {lost} version 1: missing" in result.output
    assert f"visit {changed} version 1: different" in result.output
    assert kept not in result.output


def test_a_case_new_here_is_looked_up_in_the_core_system(core_app, core):
    council = Council(core_app)
    with core_app.app_context():
        worker_name = db.session.get(Case, council.case_id).allocated_worker.username
        team_name = db.session.get(Case, council.case_id).team.name
    with core_app.app_context():
        held = db.session.get(Case, council.case_id).children[0]
        held_ref, held_name, held_plan = held.core_person_ref, held.name, held.plan_type
    core.load_cases(
        {
            "CASE-NEW-1": {
                "core_ref": "CASE-NEW-1",
                "status": "open",
                "opened_on": "2026-10-01",
                "closed_on": None,
                "team": team_name,
                "allocated_worker": worker_name,
                "children": [
                    {
                        "core_person_ref": "P-NEW-1",
                        "name": "Robin",
                        "date_of_birth": "2015-02-03",
                        "plan_type": "child_in_need",
                        "plan_start_date": "2026-10-01",
                    },
                    {
                        "core_person_ref": held_ref,
                        "name": "Someone Else",
                        "date_of_birth": "2010-01-01",
                        "plan_type": "looked_after",
                        "plan_start_date": "2025-02-01",
                    },
                ],
            },
            "CASE-ELSEWHERE": {
                "core_ref": "CASE-ELSEWHERE",
                "status": "open",
                "opened_on": "2026-10-01",
                "team": "a team we do not have",
                "children": [],
            },
        }
    )
    found = council.client.get("/api/v1/cases/lookup?core_ref=CASE-NEW-1", headers=council.worker)
    assert found.status_code == 200, found.get_json()
    case = found.get_json()
    assert case["core_ref"] == "CASE-NEW-1"
    by_ref = {child["core_person_ref"]: child for child in case["children"]}
    assert by_ref["P-NEW-1"]["name"] == "Robin"
    # A child already held here (on another case) is linked, never rewritten by a lookup.
    assert (by_ref[held_ref]["name"], by_ref[held_ref]["plan_type"]) == (held_name, held_plan)
    again = council.client.get("/api/v1/cases/lookup?core_ref=CASE-NEW-1", headers=council.worker)
    assert again.get_json()["id"] == case["id"]
    lookups = [e for e in core.log() if e["path"].startswith("/cases/") and e["status"] == 200]
    assert len(lookups) == 1, "kept locally after the first lookup"
    with core_app.app_context():
        body = complete_visit(db.session.get(Case, uuid.UUID(case["id"])))
    visit_id = str(uuid.uuid4())
    put = council.client.put(f"/api/v1/visits/{visit_id}", json=body, headers=council.worker)
    assert put.status_code == 201, put.get_json()

    for unknown in ("CASE-ELSEWHERE", "CASE-NOWHERE"):
        answer = council.client.get(
            f"/api/v1/cases/lookup?core_ref={unknown}", headers=council.worker
        )
        assert answer.status_code == 404
    core.stop()
    try:
        down = council.client.get("/api/v1/cases/lookup?core_ref=CASE-2", headers=council.worker)
        assert down.status_code == 503 and down.headers["Retry-After"]
    finally:
        core.start()
