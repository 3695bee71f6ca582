"""Retention: each case's class and disposal date kept current, legal hold, the due list."""

import uuid
from datetime import date

import pytest
from sqlalchemy import select

from service.audit.models import AuditEvent
from service.cases.models import Case, Child
from service.extensions import db
from service.retention.operations import recompute_all
from service.retention.periods import add_years
from service.timescales import local_date
from tests.factories import an_hour_ago
from tests.retention_support import make_due, visit_with_evidence

REASON = {"reason": "Court order ref ABC/123"}


@pytest.fixture
def manager(world, sign_in):
    return sign_in(world.usernames["manager"])


def _retention(app, case_id):
    with app.app_context():
        case = db.session.get(Case, uuid.UUID(case_id))
        return case.retention_class, case.disposal_date


def test_a_new_case_counts_35_years_from_opening_until_a_visit_is_submitted(
    app, world, worker, manager
):
    with app.app_context():
        opened = db.session.get(Case, uuid.UUID(world.case_ids["a1"])).opened_on
    assert _retention(app, world.case_ids["a1"]) == ("child_protection", add_years(opened, 35))
    visit_with_evidence(app, worker, world.case_ids["a1"])
    # The visit started two hours ago: its local date is the last contact (a draft never counts).
    with app.app_context():
        started = local_date(an_hour_ago(), app.config["LOCAL_TIMEZONE"])
    assert _retention(app, world.case_ids["a1"]) == ("child_protection", add_years(started, 35))


def test_a_plan_change_and_a_date_of_birth_correction_move_the_date(app, world):
    case_id = world.case_ids["a2"]
    with app.app_context():
        child = db.session.get(Case, uuid.UUID(case_id)).children[0]
        child.plan_type = "looked_after"
        db.session.commit()
    assert _retention(app, case_id) == ("looked_after", date(2091, 5, 4))  # born 2016-05-04
    with app.app_context():
        child = db.session.get(Case, uuid.UUID(case_id)).children[0]
        child.date_of_birth = date(2016, 2, 29)
        db.session.commit()
    assert _retention(app, case_id) == ("looked_after", date(2091, 3, 1))
    with app.app_context():
        db.session.get(Case, uuid.UUID(case_id)).children[0].date_of_birth = None
        db.session.commit()
    assert _retention(app, case_id) == ("looked_after", None)


def test_the_kept_dates_equal_a_full_recomputation(app, world, worker, supervisor):
    visit_with_evidence(app, worker, world.case_ids["a1"], approve_by=supervisor)
    make_due(app, world.case_ids["b1"])
    with app.app_context():
        assert recompute_all() == (4, 0)
        db.session.rollback()
    result = app.test_cli_runner().invoke(args=["retention", "recompute"])
    assert result.exit_code == 0 and "4 cases, 0 changed" in result.output


def test_recompute_mends_a_date_written_behind_its_back(app, world):
    with app.app_context():
        db.session.execute(
            Case.__table__.update().values(
                disposal_date=date(1999, 1, 1), retention_class="care_leaver"
            )
        )
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["retention", "recompute"])
    assert "4 cases, 4 changed" in result.output
    assert _retention(app, world.case_ids["a1"])[0] == "child_protection"


def test_configured_periods_apply(app, world):
    app.config["RETENTION_CHILD_PROTECTION_YEARS"] = 40
    try:
        with app.app_context():
            recompute_all()
            db.session.commit()
            case = db.session.get(Case, uuid.UUID(world.case_ids["a1"]))
            assert case.disposal_date == add_years(case.opened_on, 40)
    finally:
        app.config["RETENTION_CHILD_PROTECTION_YEARS"] = 35
        with app.app_context():
            recompute_all()
            db.session.commit()


def test_the_database_refuses_an_unknown_retention_class(app, world):
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        db.session.get(Case, uuid.UUID(world.case_ids["a1"])).retention_class = "forever"
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_hold_set_and_cleared_with_reasons_and_history(app, world, manager):
    case_id = world.case_ids["a1"]
    held = manager.post(f"/cases/{case_id}/legal-hold", json=REASON)
    assert held.status_code == 200, held.get_json()
    body = held.get_json()
    assert body["legal_hold"] is True
    assert body["holds"][0]["set_reason"] == REASON["reason"]
    assert body["holds"][0]["set_by_id"] == world.user_ids["manager"]
    assert manager.post(f"/cases/{case_id}/legal-hold", json=REASON).status_code == 409
    cleared = manager.delete(f"/cases/{case_id}/legal-hold", json={"reason": "Order discharged"})
    assert cleared.status_code == 200
    body = cleared.get_json()
    assert body["legal_hold"] is False
    assert [(h["set_reason"], h["cleared_reason"]) for h in body["holds"]] == [
        (REASON["reason"], "Order discharged")
    ]
    assert body["holds"][0]["cleared_by_id"] == world.user_ids["manager"]
    again = manager.delete(f"/cases/{case_id}/legal-hold", json={"reason": "twice"})
    assert again.status_code == 409
    assert manager.post(f"/cases/{case_id}/legal-hold", json=REASON).status_code == 200
    history = manager.get(f"/cases/{case_id}/legal-hold").get_json()["holds"]
    assert len(history) == 2 and history[0]["cleared_at"] is None
    with app.app_context():
        events = db.session.execute(
            select(AuditEvent.action, AuditEvent.child_id, AuditEvent.details).where(
                AuditEvent.action.in_(["hold", "release"])
            )
        ).all()
    assert sorted({action for action, _, _ in events}) == ["hold", "release"]
    assert {str(child) for _, child, _ in events} == set(world.child_ids["a1"])
    # The reason is in the holds table, not in the trail (it is free text).
    assert all(REASON["reason"] not in str(details) for _, _, details in events)


@pytest.mark.parametrize(
    "body",
    [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}, {"reason": "ok", "by": "me"}],
)
def test_a_hold_needs_a_reason_and_nothing_else(world, manager, body):
    response = manager.post(f"/cases/{world.case_ids['a1']}/legal-hold", json=body)
    assert response.status_code == 422


def test_who_may_hold(world, sign_in, worker, supervisor):
    case_id = world.case_ids["a1"]
    assert worker.post(f"/cases/{case_id}/legal-hold", json=REASON).status_code == 403
    assert supervisor.post(f"/cases/{case_id}/legal-hold", json=REASON).status_code == 403
    assert supervisor.get("/retention/due").status_code == 403
    # An admin (as data-protection officer) may: a hold names the case, not its content.
    admin = sign_in(world.usernames["admin"])
    assert admin.post(f"/cases/{case_id}/legal-hold", json=REASON).status_code == 200
    assert admin.get(f"/cases/{case_id}").status_code == 403  # still no child records


def test_an_unknown_or_purging_case_is_404(app, world, manager):
    assert manager.post(f"/cases/{uuid.uuid4()}/legal-hold", json=REASON).status_code == 404
    with app.app_context():
        from service.retention.purge import mark

        assert not mark(uuid.UUID(world.case_ids["b1"]))  # not due: left alone
    make_due(app, world.case_ids["b1"])
    with app.app_context():
        assert mark(uuid.UUID(world.case_ids["b1"]))
    for response in (
        manager.post(f"/cases/{world.case_ids['b1']}/legal-hold", json=REASON),
        manager.get(f"/cases/{world.case_ids['b1']}/legal-hold"),
        manager.get(f"/cases/{world.case_ids['b1']}"),
        manager.get(f"/children/{world.child_ids['b1'][0]}"),
    ):
        assert response.status_code == 404


def test_the_due_list(app, world, manager):
    assert manager.get("/retention/due").get_json() == []
    make_due(app, world.case_ids["a2"])
    make_due(app, world.case_ids["b1"], born=date(1999, 6, 1))
    assert manager.post(f"/cases/{world.case_ids['a2']}/legal-hold", json=REASON).status_code == 200
    response = manager.get("/retention/due?page_size=1")
    assert response.status_code == 200
    assert '"total": 2' in response.headers["X-Pagination"]
    first = response.get_json()
    assert [item["case_id"] for item in first] == [world.case_ids["b1"]]  # oldest date first
    assert first[0]["disposal_date"] == "2020-06-01"
    assert first[0]["retention_class"] == "child_in_need"
    assert sorted(first[0]["child_ids"]) == sorted(world.child_ids["b1"])
    assert "name" not in str(first)
    unheld = manager.get("/retention/due?include_held=false").get_json()
    assert manager.get("/retention/due?include_held=yes").status_code == 422  # true or false
    assert [item["case_id"] for item in unheld] == [world.case_ids["b1"]]
    # By 2200 every case has passed its date, but the two still open are never due.
    ahead = manager.get("/retention/due?as_of=2200-01-01").get_json()
    assert {item["case_id"] for item in ahead} == {world.case_ids["a2"], world.case_ids["b1"]}
    assert manager.get("/retention/due?as_of=yesterday").status_code == 422
    with app.app_context():
        listed = db.session.scalars(
            select(AuditEvent.child_id).where(AuditEvent.action == "list")
        ).all()
        assert {str(child) for child in listed} >= set(world.child_ids["b1"])
        assert db.session.scalar(select(Child.id).limit(1)) is not None
