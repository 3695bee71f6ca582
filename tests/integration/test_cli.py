"""The command line: demo seed, case import, user creation."""

import io
import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from service.auth.models import User
from service.cases.models import Case, Child
from service.extensions import db
from tests.factories import make_team, make_user

HEADER = "case_ref,case_status,team,allocated_worker,opened_on,closed_on,person_ref,child_name,date_of_birth,plan_type,plan_start_date"


def counts(app):
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(Case)),
            db.session.scalar(select(func.count()).select_from(Child)),
        )


def test_demo_seed_is_idempotent_and_documents_the_sign_ins(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    for username in (
        "worker.north",
        "worker2.north",
        "worker.south",
        "supervisor.north",
        "supervisor.south",
        "manager",
        "admin",
    ):
        assert username in first.output
    assert "demo-password" in first.output
    after_first = counts(app)
    second = runner.invoke(args=["demo", "seed"])
    assert second.exit_code == 0 and counts(app) == after_first
    with app.app_context():
        for username in ("worker.north", "worker2.north", "worker.south"):
            user = db.session.scalar(select(User).where(User.username == username))
            cases = db.session.scalars(
                select(Case).where(Case.allocated_worker_id == user.id)
            ).all()
            plan_types = {child.plan_type for case in cases for child in case.children}
            assert len(cases) >= 3 and len(plan_types) >= 3
            children = [child for case in cases for child in case.children]
            assert any(child.last_seen_at is None for child in children)


def test_demo_sign_in_works(app, client):
    app.test_cli_runner().invoke(args=["demo", "seed"])
    response = client.post(
        "/api/v1/auth/token", json={"username": "worker.north", "password": "demo-password"}
    )
    assert response.status_code == 200
    token = response.get_json()["access_token"]
    cases = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert any(child["overdue"] for case in cases for child in case["children"])


@pytest.fixture
def registry(app):
    with app.app_context():
        team = make_team("east")
        make_user("social_worker", [team], username="jo.worker")
        db.session.commit()


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_import_is_idempotent(app, registry, tmp_path):
    path = write(
        tmp_path,
        "cases.csv",
        f"{HEADER}\n"
        "C-1,open,east,jo.worker,2026-01-05,,P-1,Amy Brown,2015-03-01,child_protection,2026-01-05\n"
        "C-1,open,east,jo.worker,2026-01-05,,P-2,Ben Brown,2017-07-09,child_protection,2026-01-05\n"
        "C-2,open,east,,2026-02-01,,P-3,Cal Smith,2008-01-01,care_leaver,2026-02-01\n",
    )
    runner = app.test_cli_runner()
    first = runner.invoke(args=["cases", "import", str(path)])
    assert first.exit_code == 0, first.output
    assert "cases 2 new" in first.output and "children 3 new" in first.output
    again = runner.invoke(args=["cases", "import", str(path)])
    assert again.exit_code == 0 and "cases 0 new, 2 updated" in again.output
    assert counts(app) == (2, 3)
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.core_ref == "C-1"))
        assert case.allocated_worker.username == "jo.worker"
        assert sorted(child.name for child in case.children) == ["Amy Brown", "Ben Brown"]
        assert all(child.next_visit_due for child in case.children)


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(app, registry, tmp_path):
    path = write(
        tmp_path,
        "cases.csv",
        f"{HEADER}\n"
        "C-1,open,east,jo.worker,2026-01-05,,P-1,Amy Brown,2015-03-01,child_protection,2026-01-05\n"
        "C-2,open,west,jo.worker,2026-01-05,,P-2,Ben,2017-07-09,child_protection,2026-01-05\n"
        "C-3,open,east,nobody,2026-01-05,,P-3,Cal,2017-07-09,adoption,not-a-date\n"
        "C-1,closed,east,jo.worker,2026-01-05,,P-4,Dee,2017-07-09,child_in_need,2026-01-05\n",
    )
    result = app.test_cli_runner().invoke(args=["cases", "import", str(path)])
    assert result.exit_code != 0
    assert "line 3: team: no team called 'west'" in result.output
    assert "line 4: plan_type" in result.output and "line 4: plan_start_date" in result.output
    assert "line 5: case_ref C-1 differs from line 2 in case_status" in result.output
    assert "nothing imported" in result.output
    assert counts(app) == (0, 0)


def test_json_import_and_its_errors(app, registry, tmp_path):
    rows = [
        {
            "case_ref": "J-1",
            "team": "east",
            "allocated_worker": "jo.worker",
            "opened_on": "2026-01-05",
            "person_ref": "JP-1",
            "child_name": "Eve",
            "plan_type": "looked_after",
            "plan_start_date": "2026-01-05",
        }
    ]
    good = write(tmp_path, "cases.json", json.dumps(rows))
    assert app.test_cli_runner().invoke(args=["cases", "import", str(good)]).exit_code == 0
    assert counts(app) == (1, 1)
    bad = write(tmp_path, "bad.json", json.dumps([{**rows[0], "surprise": 1}, "not an object"]))
    result = app.test_cli_runner().invoke(args=["cases", "import", str(bad)])
    assert result.exit_code != 0
    assert "item 1: surprise: Unknown field." in result.output and "item 2" in result.output
    broken = write(tmp_path, "broken.json", "[{")
    assert (
        "not valid JSON"
        in app.test_cli_runner().invoke(args=["cases", "import", str(broken)]).output
    )


def test_impossible_dates_are_refused_by_row_and_nothing_is_imported(app, registry, tmp_path):
    next_month = (date.today() + timedelta(days=30)).isoformat()
    path = write(
        tmp_path,
        "cases.csv",
        f"{HEADER}\n"
        "C-1,open,east,jo.worker,2026-01-05,,P-1,Amy Brown,2015-03-01,child_protection,2026-01-05\n"
        f"C-2,open,east,jo.worker,2026-01-05,,P-2,Ben,{next_month},child_in_need,{next_month}\n"
        "C-3,closed,east,jo.worker,2026-02-01,2026-01-31,P-3,Cal,2017-07-09,child_in_need,2026-02-01\n"
        "C-4,open,east,jo.worker,2026-01-05,,P-4,Dee,2017-07-09,looked_after,2017-07-08\n",
    )
    result = app.test_cli_runner().invoke(args=["cases", "import", str(path)])
    assert result.exit_code != 0
    assert f"cases.csv: line 3: date_of_birth: date of birth {next_month} is in the future" in (
        result.output
    )
    assert (
        "cases.csv: line 4: closed_on: case closed on 2026-01-31, before it opened on 2026-02-01"
        in result.output
    )
    assert (
        "cases.csv: line 5: plan_start_date: plan starts on 2017-07-08, before the child was "
        "born on 2017-07-09" in result.output
    )
    assert "nothing imported: 3 problem(s)" in result.output
    assert counts(app) == (0, 0)


def test_impossible_dates_in_json_name_the_item(app, registry, tmp_path):
    row = {
        "case_ref": "J-1",
        "team": "east",
        "opened_on": "2026-03-01",
        "closed_on": "2026-02-01",
        "person_ref": "JP-1",
        "child_name": "Eve",
        "date_of_birth": "2020-01-01",
        "plan_type": "looked_after",
        "plan_start_date": "2019-12-31",
    }
    path = write(tmp_path, "cases.json", json.dumps([row]))
    result = app.test_cli_runner().invoke(args=["cases", "import", str(path)])
    assert "cases.json: item 1: closed_on: case closed on 2026-02-01" in result.output
    assert "cases.json: item 1: plan_start_date: plan starts on 2019-12-31" in result.output
    assert counts(app) == (0, 0)
    same_day = {**row, "closed_on": "2026-03-01", "plan_start_date": "2020-01-01"}
    path = write(tmp_path, "ok.json", json.dumps([same_day]))
    assert app.test_cli_runner().invoke(args=["cases", "import", str(path)]).exit_code == 0
    assert counts(app) == (1, 1)


def test_users_create(app, client, registry):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "users",
            "create",
            "new.sup",
            "--role",
            "supervisor",
            "--team",
            "east",
            "--password",
            "a long passphrase",
        ]
    )
    assert result.exit_code == 0, result.output
    token = client.post(
        "/api/v1/auth/token", json={"username": "new.sup", "password": "a long passphrase"}
    )
    assert token.status_code == 200
    again = runner.invoke(
        args=["users", "create", "new.sup", "--role", "supervisor", "--password", "x"]
    )
    assert again.exit_code != 0 and "already exists" in again.output
    missing = runner.invoke(
        args=["users", "create", "x", "--role", "manager", "--team", "nowhere", "--password", "x"]
    )
    assert "no such team" in missing.output


def test_verify_record_finds_and_repairs_what_differs_from_the_versions(app):
    from service.visits.models import RecordedChild

    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    clean = runner.invoke(args=["visits", "verify-record"])
    assert clean.exit_code == 0 and "agree" in clean.output
    with app.app_context():
        seen = db.session.scalars(select(Child).where(Child.last_seen_at.is_not(None))).first()
        seen.last_seen_at = None
        db.session.execute(
            RecordedChild.__table__.delete().where(RecordedChild.child_id != seen.id)
        )
        db.session.commit()
        seen_id = seen.id
    found = runner.invoke(args=["visits", "verify-record"])
    assert found.exit_code == 1 and f"child {seen_id}: last_seen_at" in found.output
    assert "record of visit" in found.output
    assert runner.invoke(args=["visits", "verify-record", "--repair"]).exit_code == 1
    assert runner.invoke(args=["visits", "verify-record"]).exit_code == 0


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("tooshort", "use at least 12 characters"),
        ("i-am-NEW.SUP-really", "do not include the username"),
        ("qwertyuiop12", "one of the most common passwords"),
        ("password123", "use at least 12 characters; it is one of the most common"),
    ],
)
def test_users_create_refuses_a_weak_password(app, client, registry, password, problem):
    result = app.test_cli_runner().invoke(
        args=["users", "create", "new.sup", "--role", "supervisor", "--password", password]
    )
    assert result.exit_code != 0 and "password not accepted" in result.output
    assert problem in result.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "new.sup")) is None


def test_demo_seed_gives_every_desk_page_something_to_show(app):
    from PIL import Image

    from service.evidence.models import Attachment
    from service.feedback.models import Feedback
    from service.visits.models import Visit, VisitVersion

    assert app.test_cli_runner().invoke(args=["demo", "seed"]).exit_code == 0
    with app.app_context():
        kinds = {row.kind for row in db.session.scalars(select(Attachment))}
        assert kinds == {"drawing", "photo", "audio"}
        store = app.extensions["evidence_store"]
        photo = db.session.scalars(select(Attachment).where(Attachment.kind == "photo")).first()
        stored = io.BytesIO(b"".join(store.open(photo.store_key)))
        assert not Image.open(stored).getexif().get_ifd(0x8825)  # no GPS left
        awaiting = db.session.scalars(select(Visit).where(Visit.status == "submitted")).all()
        versions = {
            visit.id: db.session.query(VisitVersion).filter_by(visit_id=visit.id).count()
            for visit in awaiting
        }
        assert awaiting and max(versions.values()) == 2
        for visit in awaiting:  # the evidence is in the record, not only in the store
            latest = (
                db.session.query(VisitVersion)
                .filter_by(visit_id=visit.id)
                .order_by(VisitVersion.number.desc())
                .first()
            )
            assert {item["kind"] for item in latest.snapshot["evidence"]} == kinds
        assert db.session.query(Feedback).filter_by(urgent=True).count() == 1
