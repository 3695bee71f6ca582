"""0016_username_any_capitals: usernames that already differ only by capitals stop the upgrade
with one message naming them, and nothing is changed; once renamed, the upgrade makes the index,
and from then on the database refuses a second account in other capitals.
"""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from service import create_app
from service.auth.models import User
from service.extensions import db
from tests.factories import FAST_TEST_SETTINGS, make_user

BEFORE = "0015_alerts"


def _version() -> str:
    return db.session.scalar(text("SELECT version_num FROM alembic_version"))


def _clash_stops_the_upgrade(url: str, capfd: pytest.CaptureFixture[str]) -> None:
    app = create_app({**FAST_TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(revision=BEFORE)
        for username in ("Case.Twin", "case.twin", "CASE.TWIN", "Other", "other", "alone"):
            make_user(username=username)
        db.session.commit()
        db.session.remove()
        capfd.readouterr()
        with pytest.raises(SystemExit) as stopped:
            upgrade()  # as `flask db upgrade`: one line, "Error: ...", and exit status 1
        assert stopped.value.code == 1
        [message] = [line for line in capfd.readouterr().err.splitlines() if "Error" in line]
        assert "Error: uq_users_username_lower: cannot make usernames unique" in message
        assert "'CASE.TWIN', 'Case.Twin', 'case.twin'; 'Other', 'other'." in message
        assert "'alone'" not in message and "nothing was changed" in message
        assert _version() == BEFORE
        names = set(db.session.scalars(select(User.username)))
        assert names == {"Case.Twin", "case.twin", "CASE.TWIN", "Other", "other", "alone"}
        db.session.remove()

        # The operator renames all but one of each set; then the upgrade goes through.
        for old, new in (("case.twin", "case.twin2"), ("CASE.TWIN", "case.twin3"), ("other", "o")):
            db.session.execute(
                text("UPDATE users SET username = :new WHERE username = :old"),
                {"new": new, "old": old},
            )
        db.session.commit()
        db.session.remove()
        upgrade()
        assert _version() == "0016_username_any_capitals"
        with pytest.raises(IntegrityError):
            make_user(username="ALONE")
        db.session.rollback()
        downgrade(revision=BEFORE)
        make_user(username="ALONE")  # no index: only create_user's check would refuse it
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()


def test_a_clash_stops_the_upgrade_on_sqlite(tmp_path, capfd):
    _clash_stops_the_upgrade(f"sqlite:///{tmp_path / 'usernames.db'}", capfd)


@pytest.mark.postgres
def test_a_clash_stops_the_upgrade_on_postgresql(postgres_database, capfd):
    _clash_stops_the_upgrade(postgres_database, capfd)
