"""0010_retention: downgrades and upgrades cleanly, and backfills every case's disposal date."""

from datetime import date

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select

from service import create_app
from service.cases.models import Case
from service.extensions import db
from service.retention.operations import recompute_all
from tests.factories import FAST_TEST_SETTINGS, make_case, make_child, make_team, make_user


def _backfill_matches_recomputation(url):
    app = create_app({**FAST_TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        team = make_team()
        worker = make_user("social_worker", [team])
        make_case(team, worker, [make_child("looked_after", date_of_birth=date(2008, 2, 29))])
        make_case(team, worker, [make_child("child_in_need", date_of_birth=date(2000, 1, 1))])
        make_case(team, worker, [make_child("private_fostering", date_of_birth=None)])
        make_case(team, worker, 2)
        db.session.commit()
        expected = dict(db.session.execute(select(Case.id, Case.disposal_date)).all())
        db.session.remove()
        downgrade(revision="0009_audit_chain")
        columns = {column["name"] for column in inspect(db.engine).get_columns("cases")}
        assert "disposal_date" not in columns
        assert "legal_holds" not in inspect(db.engine).get_table_names()
        upgrade()
        backfilled = dict(db.session.execute(select(Case.id, Case.disposal_date)).all())
        assert backfilled == expected
        assert date(2083, 3, 1) in backfilled.values()  # 75th birthday of a 29 February child
        assert date(2021, 1, 1) in backfilled.values()
        assert None in backfilled.values()
        assert recompute_all()[1] == 0
        db.session.rollback()
        db.engine.dispose()


def test_retention_migration_on_sqlite(tmp_path):
    _backfill_matches_recomputation(f"sqlite:///{tmp_path / 'retention.db'}")


@pytest.mark.postgres
def test_retention_migration_on_postgresql(postgres_database):
    _backfill_matches_recomputation(postgres_database)
