"""The audit trail: every read and write names its child, the chains verify, and tampering
of every kind is found (on SQLite here, and on PostgreSQL in CI).
"""

import csv
import io
import json
import uuid

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from service.audit.events import Action, Subject
from service.audit.models import AuditEvent
from service.audit.trail import record
from service.cases.models import Case
from service.extensions import db
from tests.audit_support import anchor_all, findings, tamper
from tests.factories import OWN_WORDS, new_id, visit_body


def body_for(app, world, case_key="a1", **overrides):
    with app.app_context():
        return visit_body(db.session.get(Case, uuid.UUID(world.case_ids[case_key])), **overrides)


def events(app, **where):
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.id)
        for name, value in where.items():
            query = query.where(getattr(AuditEvent, name) == value)
        rows = db.session.scalars(query).all()
        db.session.expunge_all()
        return rows


def submitted(worker, body):
    visit_id = new_id()
    assert worker.put(f"/visits/{visit_id}", json=body).status_code == 201
    assert worker.post(f"/visits/{visit_id}/submit").status_code == 200
    return visit_id


def test_a_visit_read_names_each_child_with_who_when_and_from_where(app, world, worker):
    visit_id = submitted(worker, body_for(app, world))
    response = worker.get(
        f"/visits/{visit_id}", headers={"User-Agent": "TabletApp/2.1", "X-Request-Id": "req-42"}
    )
    assert response.status_code == 200 and response.headers["X-Request-Id"] == "req-42"
    reads = events(app, action="read", record_type="visit")
    assert {str(e.child_id) for e in reads} == set(world.child_ids["a1"])
    for event in reads:
        assert (
            str(event.actor_id) == world.user_ids["worker_a"]
            and event.actor_role == "social_worker"
        )
        assert event.record_id == visit_id and event.user_agent == "TabletApp/2.1"
        assert event.request_id == "req-42" and event.remote_addr == "127.0.0.1"


def test_writes_name_changed_fields_and_the_snapshot_digest_never_content(app, world, worker):
    body = body_for(app, world)
    visit_id = new_id()
    worker.put(f"/visits/{visit_id}", json=body)
    body["observations"] = "A different note."
    response = worker.put(f"/visits/{visit_id}", json=body, headers={"If-Match": '"1"'})
    assert response.status_code == 200
    update = events(app, action="update")
    assert update and update[0].changed_fields == ["observations"]
    assert worker.post(f"/visits/{visit_id}/submit").status_code == 200
    submit = events(app, action="submit")
    assert len(submit) == 2 and all(len(e.snapshot_sha256 or "") == 64 for e in submit)
    everything = " ".join(str((e.details, e.changed_fields)) for e in events(app))
    assert OWN_WORDS not in everything and "A different note." not in everything


def test_a_refused_read_is_recorded_though_the_request_fails(app, world, worker, sign_in):
    visit_id = submitted(worker, body_for(app, world))
    other = sign_in(world.usernames["worker_b"])
    assert other.get(f"/visits/{visit_id}").status_code == 404
    denied = events(app, action="denied")
    assert {str(e.child_id) for e in denied} == set(world.child_ids["a1"])
    assert all(str(e.actor_id) == world.user_ids["worker_b"] for e in denied)
    assert other.get("/reviews/queue").status_code == 403
    assert events(app, action="denied", record_type="operation")


def test_a_refused_write_says_what_was_wanted_and_a_put_on_anothers_visit_is_404(
    app, world, worker, sign_in
):
    body = body_for(app, world)
    visit_id = submitted(worker, body)
    other = sign_in(world.usernames["worker_b"])
    assert other.post(f"/visits/{visit_id}/submit").status_code == 404
    # Creating a visit under an id that is another team's: 404 as for any record not theirs
    # (not 409, which would say the id exists), and recorded.
    replaced = other.put(f"/visits/{visit_id}", json=body_for(app, world, "b1"))
    assert replaced.status_code == 404
    assert replaced.get_json()["code"] == "visit.not_found"
    denied = events(app, action="denied", record_id=visit_id)
    assert len(denied) == 2 * len(world.child_ids["a1"])
    assert {e.details["wanted"] for e in denied} == {"change"}


def test_a_role_refusal_names_the_children_it_was_about(app, world, worker, sign_in):
    visit_id = submitted(worker, body_for(app, world))
    child = world.child_ids["a1"][0]
    admin = sign_in(world.usernames["admin"])
    assert admin.get(f"/children/{child}").status_code == 403
    assert worker.get(f"/children/{child}/export").status_code == 403
    assert admin.post(f"/visits/{visit_id}/review", json={}).status_code == 403
    by_child = events(app, action="denied", child_id=uuid.UUID(child))
    assert {(e.record_type, e.details["wanted"], e.details["refused_for"]) for e in by_child} == {
        ("child", "read", "role"),
        ("visit", "change", "role"),
    }
    assert {e.details["operation"] for e in by_child} == {
        "get_child",
        "export_child",
        "review_visit",
    }
    log = admin.get(f"/children/{child}/access-log").get_json()
    assert sum(entry["action"] == "denied" for entry in log) == 3
    manager = sign_in(world.usernames["manager"])
    hits = manager.get("/audit/unusual?days=1").get_json()
    assert any(
        hit["rule"] == "refused" and "not allowed for their role" in hit["explanation"]
        for hit in hits
    )


def test_a_failed_write_leaves_no_event(app, world, worker):
    body = body_for(app, world)
    body["children"][0]["seen"] = None
    visit_id = new_id()
    worker.put(f"/visits/{visit_id}", json=body)
    before = len(events(app))
    assert worker.post(f"/visits/{visit_id}/submit").status_code == 422
    assert len(events(app)) == before


def test_the_trail_is_append_only(app, world, worker):
    submitted(worker, body_for(app, world))
    with app.app_context():
        for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
            with pytest.raises(DatabaseError):
                db.session.execute(text(statement))
            db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) > 0


@pytest.fixture
def one_chain(app, monkeypatch):
    """Every event in chain 0, so a test knows where to tamper."""
    monkeypatch.setitem(app.config, "AUDIT_CHAINS", 1)


def _chain_with_events(app, world, worker, sign_in):
    for case in ("a1", "a2"):
        visit_id = submitted(worker, body_for(app, world, case))
        worker.get(f"/visits/{visit_id}")
    with app.app_context():
        anchor_all()
        chain, size = db.session.execute(
            select(AuditEvent.chain, func.count())
            .group_by(AuditEvent.chain)
            .order_by(func.count().desc())
        ).first()
    assert size >= 3
    return chain, size


def test_an_untouched_trail_verifies(one_chain, app, world, worker, sign_in):
    _chain_with_events(app, world, worker, sign_in)
    with app.app_context():
        assert findings() == []


@pytest.mark.parametrize(
    ("attack", "kind"),
    [
        ("UPDATE audit_events SET actor_role = 'manager' WHERE chain = :c AND seq = 2", "changed"),
        ("DELETE FROM audit_events WHERE chain = :c AND seq = 2", "gap"),
        (
            "UPDATE audit_events SET seq = CASE seq WHEN 2 THEN 3 ELSE 2 END "
            "WHERE chain = :c AND seq IN (2, 3)",
            "broken link",
        ),
    ],
    ids=["content", "deletion", "order"],
)
def test_tampering_is_found_at_the_first_bad_event(
    one_chain, app, world, worker, sign_in, attack, kind
):
    chain, _ = _chain_with_events(app, world, worker, sign_in)
    with app.app_context():
        if kind == "broken link":  # swap two events' places (seq is unique: go through -1)
            tamper("UPDATE audit_events SET seq = -1 WHERE chain = :c AND seq = 2", c=chain)
            tamper("UPDATE audit_events SET seq = 2 WHERE chain = :c AND seq = 3", c=chain)
            tamper("UPDATE audit_events SET seq = 3 WHERE chain = :c AND seq = -1", c=chain)
        else:
            tamper(attack, c=chain)
        # A deletion shows where the chain resumes, after the gap.
        assert findings()[:1] == [(chain, 3 if kind == "gap" else 2, kind)]


def test_a_rehashed_rewrite_of_the_tail_is_found_by_the_anchor(
    one_chain, app, world, worker, sign_in
):
    from service.audit.chain import event_hash
    from service.audit.verify import _columns

    chain, size = _chain_with_events(app, world, worker, sign_in)
    with app.app_context():
        rows = (
            db.session.execute(
                select(*_columns()).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
            )
            .mappings()
            .all()
        )
        db.session.rollback()
        previous = rows[0]["hash"]
        for row in rows[1:]:  # rewrite event 2 onwards, every hash recomputed consistently
            row = dict(row)
            if row["seq"] == 2:
                row["actor_role"] = "manager"
            row["prev_hash"] = previous
            row["hash"] = event_hash(previous, row)
            tamper(
                "UPDATE audit_events SET actor_role = :r, prev_hash = :p, hash = :h "
                "WHERE chain = :c AND seq = :s",
                r=row["actor_role"], p=row["prev_hash"], h=row["hash"], c=chain, s=row["seq"],
            )  # fmt: skip
            previous = row["hash"]
        assert findings() == [(chain, size, "anchor mismatch")]


def test_a_truncated_tail_is_found(one_chain, app, world, worker, sign_in):
    chain, size = _chain_with_events(app, world, worker, sign_in)
    with app.app_context():
        tamper("DELETE FROM audit_events WHERE chain = :c AND seq = :s", c=chain, s=size)
        assert findings() == [(chain, size - 1, "truncated")]


def test_a_chain_without_an_anchor_is_reported(app):
    with app.app_context():
        record(Action.READ, Subject("test", None, uuid.uuid4()), actor=None)
        db.session.commit()
        assert [kind for _, _, kind in findings()] == ["missing anchor"]


def test_a_chain_begun_since_the_last_anchoring_is_pending_one_whose_anchors_went_is_not(
    app, monkeypatch
):
    from service.audit import verify

    def event():
        record(Action.READ, Subject("test", None, uuid.uuid4()), actor=None)
        db.session.commit()
        return db.session.scalar(select(AuditEvent.chain).order_by(AuditEvent.id.desc()))

    with app.app_context():
        monkeypatch.setitem(app.config, "AUDIT_CHAINS", 1)
        event()
        anchor_all()
        monkeypatch.setitem(app.config, "AUDIT_CHAINS", 2)
        while event() != 1:  # each event takes chain 0 or 1 at random
            pass
        report = verify.verify()
        assert report.ok and report.unanchored == [1]  # begun since: not a problem
        assert "not anchored yet" in app.test_cli_runner().invoke(args=["audit", "verify"]).output
        anchor_all()
        store = app.extensions["evidence_store"]
        for item in list(store.list("audit-anchors/chain-000/")):
            store.delete(item.key)  # someone removes chain 0's anchors
        assert [(chain, kind) for chain, _, kind in findings()] == [(0, "missing anchor")]


def test_a_trail_that_can_be_rewritten_is_reported(app):
    with app.app_context():
        connection = db.session.connection()
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
            )
            undo = ["ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"]
        else:
            undo = list(
                connection.execute(
                    text("SELECT sql FROM sqlite_master WHERE name = 'audit_events_no_delete'")
                ).scalars()
            )
            connection.execute(text("DROP TRIGGER audit_events_no_delete"))
        db.session.commit()
        try:
            assert findings() == [(-1, None, "not append-only")]
            result = app.test_cli_runner().invoke(args=["audit", "verify"])
            assert result.exit_code == 1 and "database: not append-only" in result.output
        finally:
            for statement in undo:
                db.session.execute(text(statement))
            db.session.commit()
        assert findings() == []


def test_verify_checks_each_chains_newest_anchor_or_every_one(one_chain, app):
    from service.audit import verify

    with app.app_context():
        for _ in range(2):
            record(Action.READ, Subject("test", None, uuid.uuid4()), actor=None)
            db.session.commit()
            anchor_all()
        newest, every = verify.verify(), verify.verify(every_anchor=True)
        db.session.rollback()
        assert newest.ok and every.ok and (newest.anchors, every.anchors) == (1, 2)
    result = app.test_cli_runner().invoke(args=["audit", "verify", "--all-anchors"])
    assert result.exit_code == 0 and "2 anchors checked" in result.output


def test_a_forged_anchor_is_refused(one_chain, app, world, worker, sign_in):
    _chain_with_events(app, world, worker, sign_in)
    with app.app_context():
        store = app.extensions["evidence_store"]
        store.put("audit-anchors/chain-000/999999999999999-x.json", io.BytesIO(b'{"anchor": {}}'))
        assert any(kind == "bad anchor" for _, _, kind in findings())


def test_the_cli_verifies_with_progress_and_exits_1_on_a_problem(
    one_chain, app, world, worker, sign_in
):
    chain, _ = _chain_with_events(app, world, worker, sign_in)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "OK: every chain verifies" in result.output
    with app.app_context():
        tamper("UPDATE audit_events SET action = 'list' WHERE chain = :c AND seq = 1", c=chain)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and f"chain {chain}, event 1: changed" in result.output
    assert runner.invoke(args=["audit", "anchor"]).exit_code == 0


def test_the_trail_can_be_queried_and_exported_by_admins_and_managers(app, world, worker, sign_in):
    visit_id = submitted(worker, body_for(app, world))
    worker.get(f"/visits/{visit_id}")
    admin = sign_in(world.usernames["admin"])
    child = world.child_ids["a1"][0]
    listed = admin.get(f"/audit?child_id={child}&action=read")
    assert listed.status_code == 200
    assert [e["record_id"] for e in listed.get_json()] == [visit_id]
    assert "X-Pagination" in listed.headers
    exported = admin.get(f"/audit?actor_id={world.user_ids['worker_a']}&format=csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert {row["action"] for row in rows} >= {"create", "submit", "read"}
    assert all("T" in row["at"] and row["at"].endswith("+00:00") for row in rows)
    assert all(json.loads(row["details"] or "{}") is not None for row in rows)
    assert worker.get("/audit").status_code == 403
    assert sign_in(world.usernames["supervisor_a"]).get("/audit").status_code == 403
    log = admin.get(f"/children/{child}/access-log").get_json()
    assert log[0]["action"] == "read" and log[0]["actor_role"] == "social_worker"
    assert {entry["action"] for entry in log} >= {"create", "submit", "read"}
    assert admin.get(f"/children/{uuid.uuid4()}/access-log").get_json() == []
    tablet = sign_in(world.usernames["worker_a"], device_id="tablet-7")
    tablet.get(f"/visits/{visit_id}")
    latest = admin.get(f"/children/{child}/access-log").get_json()[0]
    assert latest["client_device_id"] == "tablet-7" and latest["device_id"]
    # The page count follows the filters; an absurd page is past the end, not a database error.
    future = admin.get(f"/children/{child}/access-log?since=2999-01-01T00:00:00Z")
    assert future.get_json() == [] and '"total": 0' in future.headers["X-Pagination"]
    assert admin.get(f"/children/{child}/access-log?page=99999999999999").get_json() == []
    # Reading the trail about a child is itself in the trail.
    assert events(app, action="read", record_type="access_log")


def test_unusual_access_is_reported_and_explained(app, world, worker, sign_in):
    visit_id = submitted(worker, body_for(app, world))
    other = sign_in(world.usernames["worker_b"])
    other.get(f"/visits/{visit_id}")
    manager = sign_in(world.usernames["manager"])
    hits = manager.get("/audit/unusual?days=1").get_json()
    refused = [hit for hit in hits if hit["rule"] == "refused"]
    assert refused and "not theirs" in refused[0]["explanation"]
    assert refused[0]["actor_id"] == world.user_ids["worker_b"]
    result = app.test_cli_runner().invoke(args=["audit", "unusual", "--days", "1"])
    assert result.exit_code == 0 and "refused" in result.output


def test_not_allocated_flags_a_stranger_not_a_former_worker_or_a_purged_child(app, world):
    """The rule judges by the child's cases now and everyone ever allocated them."""
    from datetime import timedelta

    from service.audit import unusual
    from service.auth.models import User
    from service.columns import utcnow

    with app.app_context():
        reader = db.session.get(User, uuid.UUID(world.user_ids["worker_b"]))
        stranger_child = uuid.UUID(world.child_ids["a1"][0])
        own_child = uuid.UUID(world.child_ids["b1"][0])
        gone_child = uuid.uuid4()  # purged: no longer held
        for child in (stranger_child, own_child, gone_child):
            record(Action.READ, Subject("child", child, child), actor=reader)
        # Case b1 moves to team A: worker_b was allocated it, so reading it is not a stranger's.
        db.session.get(Case, uuid.UUID(world.case_ids["b1"])).team_id = uuid.UUID(
            world.team_ids["a"]
        )
        db.session.commit()
        hits = [
            h for h in unusual.report(utcnow() - timedelta(hours=1)) if h.rule == "not_allocated"
        ]
        assert [h.child_id for h in hits] == [stranger_child]
