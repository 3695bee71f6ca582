"""The record cannot contradict itself: each case from issue #9, through the API.

Each test here failed on the code before the visit lifecycle existed.
"""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from service.cases.models import Case, Child
from service.extensions import db
from service.visits.models import Visit
from tests.api.test_evidence import upload
from tests.evidence_files import PDF, png_with_text
from tests.factories import new_id, visit_body


def body_for(app, world, case_key="a1", **overrides):
    with app.app_context():
        return visit_body(db.session.get(Case, uuid.UUID(world.case_ids[case_key])), **overrides)


def create(worker, body):
    visit_id = new_id()
    response = worker.put(f"/visits/{visit_id}", json=body)
    assert response.status_code == 201, response.get_json()
    return visit_id, response.headers["ETag"]


def submit(worker, visit_id, etag=None):
    headers = {"If-Match": etag} if etag else {}
    response = worker.post(f"/visits/{visit_id}/submit", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.headers["ETag"]


def decide(supervisor, visit_id, etag, decision="approve", **extra):
    body = {"decision": decision, "comment": "Please add more." if decision == "return" else None}
    body.update(extra)
    return supervisor.post(f"/visits/{visit_id}/review", json=body, headers={"If-Match": etag})


def child(app, child_id):
    with app.app_context():
        found = db.session.get(Child, uuid.UUID(child_id))
        db.session.expunge(found)
        return found


def test_a_child_taken_off_a_returned_visit_loses_what_that_visit_said(
    app, world, worker, supervisor
):
    body = body_for(app, world)
    kept, removed = world.child_ids["a1"]
    never_seen = child(app, removed)
    visit_id, etag = create(worker, body)
    etag = submit(worker, visit_id, etag)
    assert child(app, removed).last_seen_at is not None
    returned = decide(supervisor, visit_id, etag, "return")
    assert returned.status_code == 201
    # While returned, the submitted version is still the record.
    assert child(app, removed).last_seen_at is not None
    body["children"] = [c for c in body["children"] if c["child_id"] == kept]
    edited = worker.put(
        f"/visits/{visit_id}", json=body, headers={"If-Match": returned.headers["ETag"]}
    )
    assert edited.status_code == 200
    submit(worker, visit_id, edited.headers["ETag"])
    after = child(app, removed)
    assert after.last_seen_at is None and after.last_seen_alone_at is None
    assert after.next_visit_due == never_seen.next_visit_due
    overdue = [
        row["child_id"] for row in supervisor.get("/oversight/overdue?within_days=30").get_json()
    ]
    assert removed in overdue and child(app, kept).last_seen_at is not None


def test_the_chronology_shows_what_was_submitted_not_the_draft(app, world, worker, supervisor):
    body = body_for(app, world, "a2")
    child_id = world.child_ids["a2"][0]
    body["children"][0]["voice"]["own_words"] = "I want to stay with Nan."
    visit_id, etag = create(worker, body)
    etag = decide(supervisor, visit_id, submit(worker, visit_id, etag)).headers["ETag"]
    amended = worker.post(
        f"/visits/{visit_id}/amend", json={"reason": "Wrong date"}, headers={"If-Match": etag}
    )
    body["children"][0]["voice"]["own_words"] = "Unsubmitted draft text"
    assert (
        worker.put(
            f"/visits/{visit_id}", json=body, headers={"If-Match": amended.headers["ETag"]}
        ).status_code
        == 200
    )
    entries = supervisor.get(f"/children/{child_id}/chronology").get_json()
    visits = [entry for entry in entries if entry["kind"] == "visit"]
    assert len(visits) == 1
    assert visits[0]["details"]["voice"]["own_words"] == "I want to stay with Nan."
    assert visits[0]["details"]["version_number"] == 1
    csv_text = supervisor.get(f"/children/{child_id}/chronology?format=csv").get_data(as_text=True)
    assert "I want to stay with Nan." in csv_text and "Unsubmitted" not in csv_text
    # A draft never submitted is not in it either.
    draft = body_for(app, world, "a2")
    draft["children"][0]["voice"]["own_words"] = "Never submitted"
    create(worker, draft)
    assert "Never submitted" not in str(
        supervisor.get(f"/children/{child_id}/chronology").get_json()
    )


def test_no_views_flag_ignores_a_drawing_on_another_visit(app, world, worker, supervisor):
    child_id = world.child_ids["a2"][0]
    drew = body_for(app, world, "a2")
    drew["children"][0]["voice"] = {"method": "drawing"}
    first, _ = create(worker, drew)
    drawing = upload(
        worker,
        first,
        png_with_text(),
        kind="drawing",
        filename="house.png",
        content_type="image/png",
        **{"X-Child-Id": child_id},
    )
    assert drawing.status_code == 201
    submit(worker, first)
    silent = body_for(app, world, "a2")
    silent["children"][0]["voice"] = {"not_gathered_reason": "Too upset to talk"}
    second, _ = create(worker, silent)
    submit(worker, second)
    flags = {item["id"]: item["flags"] for item in supervisor.get("/reviews/queue").get_json()}
    assert "no_views" not in flags[first]
    assert "no_views" in flags[second]


def test_evidence_in_the_record_is_withdrawn_or_erased_never_deleted(
    app, world, worker, supervisor, sign_in
):
    visit_id, etag = create(worker, body_for(app, world, "a2"))
    letter = upload(
        worker, visit_id, PDF, kind="document", filename="plan.pdf", content_type="application/pdf"
    )
    attachment_id = letter.get_json()["id"]
    etag = decide(supervisor, visit_id, submit(worker, visit_id, etag)).headers["ETag"]
    version = worker.get(f"/visits/{visit_id}/versions/1").get_json()
    assert [item["id"] for item in version["evidence"]] == [attachment_id]
    assert version["evidence"][0]["sha256"] == letter.get_json()["sha256"]
    amended = worker.post(
        f"/visits/{visit_id}/amend", json={"reason": "Add detail"}, headers={"If-Match": etag}
    )
    refused = worker.delete(f"/attachments/{attachment_id}")
    assert refused.status_code == 409 and refused.get_json()["code"] == "attachment.in_record"
    withdrawn = worker.post(
        f"/attachments/{attachment_id}/withdraw", json={"reason": "Wrong family's letter"}
    )
    assert withdrawn.status_code == 200 and withdrawn.get_json()["withdrawn_reason"]
    submit(worker, visit_id, amended.headers["ETag"])
    assert worker.get(f"/visits/{visit_id}/versions/2").get_json()["evidence"] == []
    first = worker.get(f"/visits/{visit_id}/versions/1").get_json()["evidence"][0]
    assert first["id"] == attachment_id and first["withdrawn_at"]
    assert worker.get(f"/attachments/{attachment_id}/content").status_code == 200
    manager = sign_in(world.usernames["manager"])
    assert (
        worker.post(f"/attachments/{attachment_id}/erase", json={"reason": "x" * 5}).status_code
        == 403
    )
    erased = manager.post(f"/attachments/{attachment_id}/erase", json={"reason": "Another family"})
    assert erased.status_code == 200 and erased.get_json()["filename"] == "erased"
    gone = worker.get(f"/attachments/{attachment_id}/content")
    assert gone.status_code == 410 and gone.get_json()["code"] == "attachment.erased"
    tombstone = worker.get(f"/visits/{visit_id}/versions/1").get_json()["evidence"][0]
    assert tombstone["erased_at"] and tombstone["erased_reason"] == "Another family"
    store = app.extensions["evidence_store"]
    assert not [item for item in store.list() if attachment_id in item.key]


def test_evidence_never_submitted_can_still_be_deleted_from_a_draft(app, world, worker):
    visit_id, _ = create(worker, body_for(app, world, "a2"))
    letter = upload(
        worker, visit_id, PDF, kind="document", filename="p.pdf", content_type="application/pdf"
    )
    assert worker.delete(f"/attachments/{letter.get_json()['id']}").status_code == 204


def test_escalation_means_a_manager_other_than_the_escalator_decides(
    app, world, worker, supervisor, sign_in
):
    visit_id, etag = create(worker, body_for(app, world))
    etag = submit(worker, visit_id, etag)
    escalated = decide(supervisor, visit_id, etag, "escalate")
    assert escalated.status_code == 201
    etag = escalated.headers["ETag"]
    again = decide(supervisor, visit_id, etag)
    assert again.status_code == 403 and again.get_json()["code"] == "review.escalated"
    manager = sign_in(world.usernames["manager"])
    assert decide(manager, visit_id, etag).status_code == 201


def test_a_management_decision_is_due_within_a_year(app, world, worker, supervisor):
    body = body_for(app, world, "a2")
    body["children"][0] = {
        "child_id": body["children"][0]["child_id"],
        "seen": False,
        "not_seen_reason": "no_access",
    }
    visit_id, etag = create(worker, body)
    etag = submit(worker, visit_id, etag)
    far = {"action": "Revisit", "due_by": (date.today() + timedelta(days=400)).isoformat()}
    refused = decide(supervisor, visit_id, etag, management_decision=far)
    assert (
        refused.status_code == 422 and "management_decision.due_by" in refused.get_json()["errors"]
    )
    soon = {"action": "Revisit", "due_by": (date.today() + timedelta(days=5)).isoformat()}
    assert decide(supervisor, visit_id, etag, management_decision=soon).status_code == 201


@pytest.mark.parametrize("when", ["1999-12-31T10:00:00+00:00", "born-later"])
def test_a_visit_before_2000_or_before_the_child_was_born_is_refused(app, world, worker, when):
    body = body_for(app, world, "a2")
    if when == "born-later":
        with app.app_context():
            db.session.get(Child, uuid.UUID(world.child_ids["a2"][0])).date_of_birth = date.today()
            db.session.commit()
        when = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    body.update(started_at=when, ended_at=None)
    response = worker.put(f"/visits/{new_id()}", json=body)
    assert response.status_code == 422, response.get_json()
    assert set(response.get_json()["errors"]) & {"started_at", "children.0.child_id"}


def test_a_batch_that_fails_after_its_items_leaves_nothing_committed(
    app, world, sign_in, monkeypatch
):
    from service.sync import operations

    tablet = sign_in(world.usernames["worker_a"], device_id="tablet-x")
    items = [{**body_for(app, world, "a2"), "id": new_id(), "base_version": None} for _ in range(2)]

    def broken(*args, **kwargs):
        raise RuntimeError("the receipt could not be kept")

    monkeypatch.setattr(operations, "keep_receipt", broken)
    response = tablet.post("/sync", json={"device_id": "tablet-x", "visits": items})
    assert response.status_code == 500
    with app.app_context():
        assert db.session.query(Visit).count() == 0


def test_demo_seed_goes_through_the_lifecycle_and_its_counts_agree(app, client):
    assert app.test_cli_runner().invoke(args=["demo", "seed"]).exit_code == 0
    token = client.post(
        "/api/v1/auth/token", json={"username": "manager", "password": "demo-password"}
    ).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    queue = client.get("/api/v1/reviews/queue", headers=headers)
    queued = int(__import__("json").loads(queue.headers["X-Pagination"])["total"])
    summary = client.get("/api/v1/oversight/summary", headers=headers).get_json()
    assert queued == summary["total"]["awaiting_review"] > 0
    with app.app_context():
        from service.reviews.models import Review
        from service.visits.models import VisitVersion
        from service.visits.verify import check_record

        submitted = db.session.query(Visit).filter(Visit.submitted_at.is_not(None)).all()
        assert submitted and all(
            db.session.query(VisitVersion).filter_by(visit_id=visit.id).count() >= 1
            for visit in submitted
        )
        assert all(review.version_number >= 1 for review in db.session.query(Review))
        assert check_record() == []
        for leaver in db.session.query(Child).filter_by(plan_type="care_leaver"):
            assert 16 <= (date.today() - leaver.date_of_birth).days // 365 <= 25
