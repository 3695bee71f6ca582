"""Whether each visit was made within timescale: stored with the record, kept like last seen."""

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update

from service.cases.models import Child
from service.extensions import db
from service.visits.cli import visits
from service.visits.models import RecordedChild
from service.visits.verify import check_record
from tests.api.test_dashboard_series import start_plan, submit


def flags(app, child_id):
    """The child's in-time flags, oldest visit first."""
    with app.app_context():
        return list(
            db.session.scalars(
                select(RecordedChild.in_time)
                .where(RecordedChild.child_id == uuid.UUID(child_id))
                .order_by(RecordedChild.started_at)
            )
        )


def test_a_late_sync_and_a_plan_change_move_the_flags(app, world, worker):
    child_id = world.child_ids["a2"][0]
    start_plan(app, child_id, 30)  # a protection plan: every 10 working days, from 30 days ago
    now = datetime.now(UTC).replace(microsecond=0)
    submit(app, world, worker, "a2", now - timedelta(hours=2))
    assert flags(app, child_id) == [False]  # due 10 working days after the plan started
    # An earlier visit synced late: itself late, it makes the next one in time.
    submit(app, world, worker, "a2", now - timedelta(days=5))
    assert flags(app, child_id) == [False, True]
    # A visit at which the child was not seen does not count, and counts for nothing.
    submit(app, world, worker, "a2", now - timedelta(days=3), seen=False, seen_alone=False,
           not_seen_reason="child_not_home", not_seen_detail="Nobody came to the door.",
           voice=None)  # fmt: skip
    assert flags(app, child_id) == [False, None, True]
    # The core system moves the child onto a plan with longer timescales: both now in time.
    with app.app_context():
        child = db.session.get(Child, uuid.UUID(child_id))
        child.plan_type = "care_leaver"
        db.session.commit()
    assert flags(app, child_id) == [True, None, True]
    with app.app_context():
        assert check_record() == []


def test_recompute_derived_puts_every_flag_back(app, world, worker):
    child_id = world.child_ids["a2"][0]
    start_plan(app, child_id, 30)
    now = datetime.now(UTC).replace(microsecond=0)
    submit(app, world, worker, "a2", now - timedelta(days=5))
    submit(app, world, worker, "a2", now - timedelta(hours=2))
    with app.app_context():
        db.session.execute(update(RecordedChild).values(in_time=None))
        db.session.commit()
        assert check_record() != []
    result = app.test_cli_runner().invoke(visits, ["recompute-derived", "--batch", "1"])
    assert result.exit_code == 0, result.output
    assert "Recomputed" in result.output
    assert flags(app, child_id) == [False, True]
    with app.app_context():
        assert check_record() == []
        assert date.today() >= db.session.get(Child, uuid.UUID(child_id)).plan_start_date
