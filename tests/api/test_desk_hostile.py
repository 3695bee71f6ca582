"""What a hostile tester typed into the desk pages: each a 4xx at the edge, never a 500
(DESIGN.md §9).
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from service.auth.models import User
from service.columns import UNSTORABLE_MESSAGE
from service.extensions import db
from service.reviews.models import Review
from tests.desk import TOKEN, desk_post, desk_sign_in
from tests.review_pages_support import submitted_visit

FAR_OFF = "9999-12-31"


@pytest.fixture
def manager(client, world):
    desk_sign_in(client, world.usernames["manager"])
    return client


@pytest.mark.parametrize("path", ("/desk/audit", "/desk/audit.csv", "access-log"))
@pytest.mark.parametrize("name", ("until", "since"))
def test_a_date_too_far_off_is_a_form_error(manager, world, path, name):
    if path == "access-log":
        path = f"/desk/children/{world.child_ids['a1'][0]}/access-log"
    response = manager.get(f"{path}?{name}={FAR_OFF}", follow_redirects=True)
    assert response.status_code == 400
    assert "Enter a real date between" in response.get_data(as_text=True)


def test_the_api_refuses_a_date_too_far_off(sign_in, world):
    manager = sign_in(world.usernames["manager"])
    for path in ("/audit", f"/children/{world.child_ids['a1'][0]}/access-log"):
        response = manager.get(f"{path}?until={FAR_OFF}T23:59:59%2B00:00")
        assert response.status_code in (200, 422), (path, response.status_code)


HUGE = "9" * 5000


@pytest.fixture
def worker(sign_in, world):
    return sign_in(world.usernames["worker_a"], device_id="tablet-hostile")


@pytest.fixture
def supervisor(client, world):
    desk_sign_in(client, world.usernames["supervisor_a"])
    return client


def decide(client, visit_id, **fields):
    path = f"/desk/visits/{visit_id}"
    return desk_post(client, f"{path}/review", fields, path)


def test_an_etag_of_5000_digits_is_a_stale_form_not_a_500(app, worker, supervisor, world):
    visit_id, _ = submitted_visit(app, worker, world.case_ids["a1"])
    response = decide(supervisor, visit_id, decision="approve", etag=f'"{HUGE}"')
    assert response.status_code == 409


@pytest.mark.parametrize("tag", (f'"{HUGE}"', '"²"'))
@pytest.mark.parametrize("action", ("submit", "review"))
def test_the_api_takes_an_etag_of_any_length_as_no_version(
    app, worker, sign_in, world, tag, action
):
    visit_id, etag = submitted_visit(app, worker, world.case_ids["a1"])
    if action == "submit":
        returned = sign_in(world.usernames["supervisor_a"]).post(
            f"/visits/{visit_id}/review",
            json={"decision": "return", "comment": "Say more."},
            headers={"If-Match": etag},
        )
        assert returned.status_code == 201
        caller = worker
    else:
        caller = sign_in(world.usernames["supervisor_a"])
    response = caller.post(
        f"/visits/{visit_id}/{action}", json={"decision": "approve"}, headers={"If-Match": tag}
    )
    assert response.status_code == 412, response.get_json()


@pytest.mark.parametrize("typed", (HUGE, "²", "-1", "11"))
def test_a_care_leavers_number_out_of_range_is_no_answer(client, typed):
    page = client.get("/feedback")
    token = TOKEN.search(page.get_data(as_text=True)).group(1)
    response = client.post(
        "/feedback",
        data={"csrf_token": token, "life_satisfaction": typed, "worthwhile": "8"},
    )
    assert response.status_code == 400


@pytest.mark.parametrize("day", ("9" * 30, HUGE, "²"))
def test_a_due_date_of_many_digits_is_a_form_error(app, worker, supervisor, world, day):
    visit_id, etag = submitted_visit(app, worker, world.case_ids["a1"], not_seen=True)
    response = decide(
        supervisor,
        visit_id,
        decision="approve",
        management_action="Visit again on Monday.",
        due_day=day,
        due_month="1",
        due_year="2027",
        etag=etag,
    )
    assert response.status_code == 422
    assert "as a real date" in response.get_data(as_text=True)


# A form's body is UTF-8: a lone surrogate cannot be sent in one (werkzeug would read U+FFFD).
NUL = "before\x00after"


@pytest.mark.parametrize("field", ("comment", "management_action"))
def test_a_nul_in_a_decision_is_a_form_error(app, worker, supervisor, world, field):
    visit_id, etag = submitted_visit(app, worker, world.case_ids["a1"], not_seen=True)
    fields = {
        "decision": "return",
        "comment": "Say more.",
        "management_action": "Visit again on Monday.",
        "due_day": str(date.today().day),
        "due_month": str(date.today().month),
        "due_year": str(date.today().year),
        "etag": etag,
    }
    response = decide(supervisor, visit_id, **{**fields, field: NUL})
    assert response.status_code == 422
    assert UNSTORABLE_MESSAGE in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Review)) == 0


@pytest.fixture
def admin(client, world):
    desk_sign_in(client, world.usernames["admin"])
    return client


STRONG = "a long and unusual passphrase"


def new_user(admin, **fields):
    form = {
        "username": "carer.one",
        "display_name": "Carer One",
        "role": "social_worker",
        "teams": "team-a",
        "password": STRONG,
    }
    return desk_post(admin, "/desk/admin/users/new", {**form, **fields}, "/desk/admin/users/new")


def users_named(app, name):
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(User).where(func.lower(User.username) == name.lower())
        )


@pytest.mark.parametrize(
    "fields",
    (
        {"password": f"{STRONG}{NUL}"},
        {"teams": NUL},
        {"display_name": NUL},
        {"username": NUL},
    ),
)
def test_a_nul_in_a_new_account_is_a_form_error(app, admin, fields):
    response = new_user(admin, **fields)
    assert response.status_code == 400
    assert users_named(app, "carer.one") == 0


def test_a_nul_in_a_new_password_is_a_form_error(app, admin, world):
    path = f"/desk/admin/users/{world.user_ids['worker_a']}/password"
    response = desk_post(admin, path, {"password": f"{STRONG}{NUL}"}, path)
    assert response.status_code == 400
    assert "use NUL characters" in response.get_data(as_text=True)
    desk_sign_in(app.test_client(), world.usernames["worker_a"])  # the password is unchanged


def test_a_username_in_other_capitals_is_taken(app, admin, world):
    taken = world.usernames["supervisor_a"]
    response = new_user(admin, username=taken.upper())
    assert response.status_code == 400 and "already exists" in response.get_data(as_text=True)
    assert users_named(app, taken) == 1


@pytest.mark.parametrize(
    "username",
    ("evil\u202etxt.exe", "zero\u200bwidth", "\u0430dmin", "two words", "tab\tbed", "semi;colon"),
)
def test_a_username_outside_the_plain_characters_is_refused(app, admin, username):
    response = new_user(admin, username=username)
    assert response.status_code == 400
    assert "letters a to z, digits" in response.get_data(as_text=True)


def test_a_plain_username_is_made(app, admin):
    assert new_user(admin, username="Carer_One-2@north.example").status_code == 302
    assert users_named(app, "carer_one-2@north.example") == 1


def test_the_command_line_keeps_the_same_rule(app, world):
    from service.auth import operations
    from service.errors import ValidationFailed

    with app.app_context(), pytest.raises(ValidationFailed):
        operations.create_user(
            None,
            username=world.usernames["manager"].upper(),
            display_name=None,
            role="manager",
            team_names=[],
            password=STRONG,
        )


def test_the_500_page_shows_the_reference_in_the_log(supervisor, monkeypatch, caplog):
    from service.reviews import pages

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(pages.operations, "queue_query", explode)
    with caplog.at_level("ERROR"):
        response = supervisor.get("/desk/reviews")
    assert response.status_code == 500 and response.mimetype == "text/html"
    reference = response.headers["X-Correlation-Id"]
    assert f"correlation_id={reference}" in caplog.text
    html = response.get_data(as_text=True)
    assert f"Quote this reference: <strong>{reference}</strong>" in html
    assert "secret internals" not in html


def test_an_api_500_has_the_reference_in_a_header(client, monkeypatch):
    from service.auth import routes

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(routes.operations, "login", explode)
    response = client.post("/api/v1/auth/token", json={"username": "a", "password": "b"})
    assert response.status_code == 500
    assert response.headers["X-Correlation-Id"] == response.get_json()["correlation_id"]


def test_a_nul_in_a_triage_note_is_a_form_error(app, client, world):
    from service.feedback.models import Feedback

    with app.app_context():
        feedback = Feedback(language="en", urgent=False, anything_else="Hello")
        db.session.add(feedback)
        db.session.commit()
        path = f"/desk/feedback/{feedback.id}"
    desk_sign_in(client, world.usernames["manager"])
    response = desk_post(client, f"{path}/triage", {"status": "in_progress", "note": NUL}, path)
    assert response.status_code == 400


def test_a_nul_in_a_team_on_the_role_form_is_a_form_error(admin, world):
    path = f"/desk/admin/users/{world.user_ids['worker_a']}/role"
    response = desk_post(admin, path, {"role": "social_worker", "teams": NUL}, path)
    assert response.status_code == 400
