"""Migrations run on both databases, match the models exactly, and downgrade cleanly."""

import pytest
from flask_migrate import check, downgrade, upgrade
from sqlalchemy import inspect

from service import create_app
from service.extensions import db


def run_migrations(url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        check()  # raises if the models and the migrations disagree
        downgrade(revision="base")
        remaining = set(inspect(db.engine).get_table_names())
        db.engine.dispose()
    return tables, remaining


EXPECTED_TABLES = {
    "teams",
    "users",
    "team_memberships",
    "devices",
    "auth_sessions",
    "refresh_tokens",
    "cases",
    "children",
    "case_children",
    "visits",
    "visit_children",
    "visit_versions",
    "audit_events",
}


def test_migrations_on_sqlite(tmp_path):
    tables, remaining = run_migrations(f"sqlite:///{tmp_path / 'migrate.db'}")
    assert EXPECTED_TABLES <= tables
    assert remaining <= {"alembic_version"}


@pytest.mark.postgres
def test_migrations_on_postgresql(postgres_database):
    tables, remaining = run_migrations(postgres_database)
    assert EXPECTED_TABLES <= tables
    assert remaining <= {"alembic_version"}
