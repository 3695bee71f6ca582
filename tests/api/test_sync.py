"""Offline sync: batches, replays, conflicts, rejections, cursors, reallocation."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from service.cases.models import Case, Child
from service.evidence.models import Attachment
from service.extensions import db
from service.visits.models import Visit, VisitVersion
from tests.evidence_files import PDF
from tests.factories import new_id, visit_body

DEVICE = "tablet-1"


@pytest.fixture
def tablet(world, sign_in):
    return sign_in(world.usernames["worker_a"], device_id=DEVICE)


def body_for(app, world, case_key="a1", **overrides):
    with app.app_context():
        return visit_body(db.session.get(Case, uuid.UUID(world.case_ids[case_key])), **overrides)


def item(app, world, case_key="a1", visit_id=None, base_version=None, submit=False, **overrides):
    return {
        **body_for(app, world, case_key, **overrides),
        "id": visit_id or new_id(),
        "base_version": base_version,
        "submit": submit,
    }


def sync(session, visits=(), cursor=None, device=DEVICE):
    return session.post(
        "/sync", json={"device_id": device, "cursor": cursor, "visits": list(visits)}
    )


def visit_rows(app):
    with app.app_context():
        return (
            db.session.query(Visit).count(),
            db.session.query(VisitVersion).count(),
            sorted((str(v.id), v.version, v.status) for v in db.session.query(Visit)),
        )


def test_a_batch_creates_drafts_and_submissions(app, world, tablet):
    draft, submitted = item(app, world), item(app, world, "a2", submit=True)
    response = sync(tablet, [draft, submitted])
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["results"]
    assert [(r["id"], r["result"], r["version"]) for r in results] == [
        (draft["id"], "created", 1),
        (submitted["id"], "created", 2),
    ]
    assert tablet.get(f"/visits/{submitted['id']}").get_json()["status"] == "submitted"
    changes = response.get_json()["changes"]
    assert set(changes["caseload_case_ids"]) == {world.case_ids["a1"], world.case_ids["a2"]}
    assert {case["id"] for case in changes["cases"]} == {world.case_ids["a1"], world.case_ids["a2"]}
    assert response.get_json()["cursor"]


def test_the_same_batch_twice_gets_the_same_answer_and_changes_nothing(app, world, tablet):
    batch = [item(app, world), item(app, world, "a2", submit=True)]
    first = sync(tablet, batch)
    rows = visit_rows(app)
    again = sync(tablet, batch)
    assert again.status_code == 200
    assert again.get_json()["results"] == first.get_json()["results"]
    assert visit_rows(app) == rows


def test_resending_content_the_server_has_is_unchanged(app, world, tablet):
    first = item(app, world, submit=True)
    sync(tablet, [first])
    cursor = sync(tablet).get_json()["cursor"]
    response = sync(tablet, [dict(first, base_version=2)], cursor=cursor)
    assert response.get_json()["results"][0]["result"] == "unchanged"


def test_update_from_the_version_it_was_edited_from(app, world, tablet):
    draft = item(app, world)
    sync(tablet, [draft])
    edited = dict(draft, base_version=1, analysis="Edited on the tablet")
    result = sync(tablet, [edited]).get_json()["results"][0]
    assert result["result"] == "updated" and result["version"] == 2
    assert tablet.get(f"/visits/{draft['id']}").get_json()["analysis"] == "Edited on the tablet"


def test_two_devices_editing_one_visit_get_a_conflict_with_the_server_copy(app, world, sign_in):
    tablet_a = sign_in(world.usernames["worker_a"], device_id="tablet-a")
    tablet_b = sign_in(world.usernames["worker_a"], device_id="tablet-b")
    draft = item(app, world)
    sync(tablet_a, [draft], device="tablet-a")
    from_b = sync(tablet_b, [dict(draft, base_version=1, analysis="From B")], device="tablet-b")
    assert from_b.get_json()["results"][0]["result"] == "updated"
    from_a = sync(tablet_a, [dict(draft, base_version=1, analysis="From A")], device="tablet-a")
    result = from_a.get_json()["results"][0]
    assert result["result"] == "conflict" and result["version"] == 2
    assert result["server_visit"]["analysis"] == "From B"
    assert tablet_a.get(f"/visits/{draft['id']}").get_json()["analysis"] == "From B"
    rebased = sync(
        tablet_a, [dict(draft, base_version=2, analysis="From A, rebased")], device="tablet-a"
    )
    assert rebased.get_json()["results"][0]["result"] == "updated"


def test_a_submitted_visit_edited_offline_is_a_conflict(app, world, tablet):
    draft = item(app, world, submit=True)
    sync(tablet, [draft])
    result = sync(tablet, [dict(draft, base_version=2, analysis="Late edit")]).get_json()[
        "results"
    ][0]
    assert result["result"] == "conflict" and result["server_visit"]["status"] == "submitted"


def test_one_bad_item_never_sinks_the_batch(app, world, tablet):
    good = item(app, world)
    bad_enum = item(app, world, visit_type="phone_call")
    not_on_case = item(app, world)
    not_on_case["children"][0]["child_id"] = world.child_ids["b1"][0]
    incomplete = item(app, world, submit=True)
    incomplete["children"][0]["seen"] = None
    not_an_object = "visit"
    also_good = item(app, world, "a2", submit=True)
    response = sync(tablet, [good, bad_enum, not_on_case, incomplete, not_an_object, also_good])
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["result"] for r in results] == [
        "created",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "created",
    ]
    assert "visit_type" in results[1]["errors"]
    assert "children.0.child_id" in results[2]["errors"]
    assert "children.0.seen" in results[3]["errors"]
    # Atomic per item: the incomplete submission left no half-made draft behind.
    assert tablet.get(f"/visits/{incomplete['id']}").status_code == 404
    assert visit_rows(app)[0] == 2


def test_another_workers_visit_id_is_rejected_without_their_data(app, world, tablet, sign_in):
    theirs = item(app, world, "a3")
    other = sign_in(world.usernames["worker_a2"], device_id="their-tablet")
    sync(other, [theirs], device="their-tablet")
    result = sync(tablet, [dict(item(app, world), id=theirs["id"])]).get_json()["results"][0]
    assert result["result"] == "rejected" and "server_visit" not in result


def test_missing_attachments_are_listed_until_uploaded(app, world, tablet):
    attachment_id = new_id()
    draft = {**item(app, world), "attachment_ids": [attachment_id]}
    result = sync(tablet, [draft]).get_json()["results"][0]
    assert result["missing_attachments"] == [attachment_id]
    uploaded = tablet.post(
        f"/visits/{draft['id']}/attachments",
        data=PDF,
        content_type="application/pdf",
        headers={
            "X-Attachment-Id": attachment_id,
            "X-Attachment-Kind": "document",
            "X-Filename": "a.pdf",
        },
    )
    assert uploaded.status_code == 201
    again = sync(tablet, [dict(draft, base_version=1, analysis="after upload")]).get_json()[
        "results"
    ][0]
    assert again["missing_attachments"] == []
    with app.app_context():
        assert db.session.query(Attachment).count() == 1


def test_batch_limits_and_bad_requests(app, world, tablet):
    app.config["SYNC_MAX_ITEMS"] = 2
    try:
        too_many = sync(tablet, [item(app, world) for _ in range(3)])
    finally:
        app.config["SYNC_MAX_ITEMS"] = 200
    assert too_many.status_code == 413 and too_many.get_json()["code"] == "sync.batch_too_large"
    assert visit_rows(app)[0] == 0
    assert sync(tablet, cursor="not-ours").status_code == 422
    assert sync(tablet, device="someone-elses-tablet").get_json()["code"] == "sync.device_mismatch"
    assert (
        tablet.post("/sync", json={"device_id": DEVICE, "visits": [], "extra": 1}).status_code
        == 422
    )


def test_a_session_without_a_device_cannot_sync(world, sign_in):
    desk = sign_in(world.usernames["worker_a"])
    assert sync(desk).status_code == 422


def test_a_device_revoked_mid_sync_is_refused(app, world, tablet, sign_in):
    assert sync(tablet, [item(app, world)]).status_code == 200
    admin = sign_in(world.usernames["admin"])
    device = next(d for d in admin.get("/devices").get_json() if d["device_id"] == DEVICE)
    admin.delete(f"/devices/{device['id']}")
    refused = sync(tablet, [item(app, world)])
    assert refused.status_code == 401
    assert visit_rows(app)[0] == 1


def return_visit(app, visit_id):
    """A supervisor of the case's team returns the visit (through the review operation)."""
    from service.reviews.operations import review_visit
    from service.visits.lifecycle import etag

    with app.app_context():
        visit = db.session.get(Visit, uuid.UUID(visit_id))
        supervisor = next(u for u in visit.case.team.members if u.role == "supervisor")
        decision = {"decision": "return", "comment": "Add more", "management_decision": None}
        review_visit(supervisor, visit.id, decision, etag(visit))
        db.session.commit()


def test_the_cursor_brings_only_what_changed(app, world, tablet):
    first = sync(tablet).get_json()
    assert len(first["changes"]["cases"]) == 2
    quiet = sync(tablet, cursor=first["cursor"]).get_json()
    assert quiet["changes"]["cases"] == [] and quiet["changes"]["returned_visits"] == []
    assert set(quiet["changes"]["caseload_case_ids"]) == {
        world.case_ids["a1"],
        world.case_ids["a2"],
    }
    submitted = item(app, world, "a2", submit=True)
    own = sync(tablet, [submitted], cursor=quiet["cursor"]).get_json()
    # Our own submit changed a child's dates; that arrives with the next sync.
    after = sync(tablet, cursor=own["cursor"]).get_json()
    assert [case["id"] for case in after["changes"]["cases"]] == [world.case_ids["a2"]]
    child = after["changes"]["cases"][0]["children"][0]
    assert child["last_seen_at"] is not None
    return_visit(app, submitted["id"])
    returned = sync(tablet, cursor=after["cursor"]).get_json()
    assert [v["id"] for v in returned["changes"]["returned_visits"]] == [submitted["id"]]
    assert sync(tablet, cursor=returned["cursor"]).get_json()["changes"]["returned_visits"] == []


def test_a_returned_visit_on_a_case_being_purged_is_not_sent(app, world, tablet):
    """Retention purge marks a case before deleting it; from then on it is absent, sync too."""
    submitted = item(app, world, "a2", submit=True)
    sync(tablet, [submitted])
    return_visit(app, submitted["id"])
    assert [v["id"] for v in sync(tablet).get_json()["changes"]["returned_visits"]] == [
        submitted["id"]
    ]
    with app.app_context():
        db.session.get(Case, uuid.UUID(world.case_ids["a2"])).purging_since = datetime.now(UTC)
        db.session.commit()
    assert sync(tablet).get_json()["changes"]["returned_visits"] == []


def test_reallocation_rule(app, world, tablet):
    """A case moved away leaves the caseload at once; visits made while allocated still sync."""
    made_while_allocated = item(app, world)
    sync(tablet, [made_while_allocated])
    offline_before = item(
        app,
        world,
        started_at=(datetime.now(UTC) - timedelta(hours=5)).isoformat(),
        ended_at=(datetime.now(UTC) - timedelta(hours=4)).isoformat(),
    )
    with app.app_context():
        case = db.session.get(Case, uuid.UUID(world.case_ids["a1"]))
        case.allocated_worker_id = uuid.UUID(world.user_ids["worker_a2"])
        db.session.commit()
    after = sync(tablet).get_json()
    assert world.case_ids["a1"] not in after["changes"]["caseload_case_ids"]
    assert world.case_ids["a1"] not in {case["id"] for case in after["changes"]["cases"]}
    finish = dict(made_while_allocated, base_version=1, submit=True)
    results = sync(tablet, [finish, offline_before]).get_json()["results"]
    assert [r["result"] for r in results] == ["updated", "created"], results
    future_case_visit = item(app, world)
    with app.app_context():
        from service.cases.models import CaseAllocation

        # Make the reallocation older than the visit: now the visit was made after it.
        for allocation in db.session.query(CaseAllocation).filter(
            CaseAllocation.case_id == uuid.UUID(world.case_ids["a1"])
        ):
            if allocation.allocated_until is not None:
                allocation.allocated_until -= timedelta(days=1)
            else:
                allocation.allocated_from -= timedelta(days=1)
        db.session.commit()
    refused = sync(tablet, [future_case_visit]).get_json()["results"][0]
    assert refused["result"] == "rejected" and "case_id" in refused["errors"]


def test_a_repeated_poll_still_hears_of_later_changes(app, world, tablet):
    """An empty poll sent twice with the same cursor is not a replay: changes are fresh."""
    cursor = sync(tablet).get_json()["cursor"]
    assert sync(tablet, cursor=cursor).get_json()["changes"]["cases"] == []
    with app.app_context():
        child = db.session.get(Child, uuid.UUID(world.child_ids["a1"][0]))
        child.plan_type = "child_in_need"
        db.session.commit()
    again = sync(tablet, cursor=cursor).get_json()
    assert [case["id"] for case in again["changes"]["cases"]] == [world.case_ids["a1"]]
    assert again["cursor"] != cursor
