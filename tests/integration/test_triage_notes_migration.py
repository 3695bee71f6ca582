"""0012_feedback_triage_notes: a response triaged before the history existed keeps its one
surviving step (status, note, who, when) in the history; downgrade and upgrade run cleanly.
"""

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select

from service import create_app
from service.extensions import db
from service.feedback import operations
from service.feedback.models import Feedback, FeedbackTriageNote
from tests.factories import FAST_TEST_SETTINGS, make_user


def _latest_step_is_kept(url):
    app = create_app({**FAST_TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        manager = make_user("manager")
        triaged = operations.save_feedback({"anything_else": "Help with rent"}, "en", None)
        operations.save_feedback({}, "en", None)  # never triaged: no step
        operations.triage(manager, triaged.id, "contacted", "Called, left a message")
        db.session.commit()
        triaged_id, manager_id, moment = triaged.id, manager.id, triaged.triaged_at
        db.session.remove()
        downgrade(revision="0011_audit_claim")
        assert "feedback_triage_notes" not in inspect(db.engine).get_table_names()
        upgrade()
        steps = db.session.scalars(select(FeedbackTriageNote)).all()
        assert [(s.feedback_id, s.status, s.note, s.by_id) for s in steps] == [
            (triaged_id, "contacted", "Called, left a message", manager_id)
        ]
        assert steps[0].at == moment
        assert db.session.scalar(select(db.func.count()).select_from(Feedback)) == 2
        db.session.rollback()
        db.engine.dispose()


def test_triage_notes_migration_on_sqlite(tmp_path):
    _latest_step_is_kept(f"sqlite:///{tmp_path / 'triage.db'}")


@pytest.mark.postgres
def test_triage_notes_migration_on_postgresql(postgres_database):
    _latest_step_is_kept(postgres_database)
