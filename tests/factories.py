"""Test data builders: small functions that add real rows through the models."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from service.auth.models import Team, User
from service.auth.passwords import hash_password
from service.cases.models import Case, Child
from service.cases.operations import refresh_next_due
from service.extensions import db

PASSWORD = "correct horse battery staple"
# Words a child said and a care leaver wrote: they must never reach a log (tests/api/conftest.py).
OWN_WORDS = "I like it when Nan picks me up from school."
OBSERVATIONS = "Home warm; fridge stocked."
URGENT_MESSAGE = "I am not safe tonight"
CONTACT_NAME = "Jordan Rees"
CONTACT_DETAIL = "07700 900461"
_counter = itertools.count(1)


def make_team(name: str | None = None) -> Team:
    name = name or f"team{next(_counter)}"
    team = Team(name=name, display_name=name.title())
    db.session.add(team)
    db.session.flush()
    return team


def make_user(role: str = "social_worker", teams: list[Team] | None = None, **fields: Any) -> User:
    username = fields.pop("username", f"{role}{next(_counter)}")
    user = User(
        username=username,
        display_name=fields.pop("display_name", username.title()),
        role=role,
        password_hash=hash_password(fields.pop("password", PASSWORD)),
        teams=teams or [],
        **fields,
    )
    db.session.add(user)
    db.session.flush()
    return user


def make_child(plan_type: str = "child_protection", **fields: Any) -> Child:
    child = Child(
        core_person_ref=fields.pop("core_person_ref", f"P{next(_counter)}"),
        name=fields.pop("name", f"Child {next(_counter)}"),
        date_of_birth=fields.pop("date_of_birth", date(2016, 5, 4)),
        plan_type=plan_type,
        plan_start_date=fields.pop("plan_start_date", date.today() - timedelta(days=3)),
        **fields,
    )
    refresh_next_due(child)
    db.session.add(child)
    return child


def make_case(
    team: Team, worker: User | None, children: int | list[Child] = 2, **fields: Any
) -> Case:
    kids = children if isinstance(children, list) else [make_child() for _ in range(children)]
    case = Case(
        core_ref=fields.pop("core_ref", f"CASE-{next(_counter)}"),
        team=team,
        allocated_worker=worker,
        opened_on=fields.pop("opened_on", date.today() - timedelta(days=60)),
        children=kids,
        **fields,
    )
    db.session.add(case)
    db.session.flush()
    return case


def an_hour_ago() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def visit_body(case: Case, **overrides: Any) -> dict[str, Any]:
    """A complete, submittable visit body for ``case`` (every child seen, alone, with views)."""
    started = an_hour_ago()
    body: dict[str, Any] = {
        "case_id": str(case.id),
        "visit_type": "statutory",
        "announced": False,
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(minutes=55)).isoformat(),
        "location": "family_home",
        "people_present": ["Mother", "Maternal grandmother"],
        "children": [
            {
                "child_id": str(child.id),
                "seen": True,
                "seen_alone": True,
                "bedroom_seen": True,
                "voice": {
                    "own_words": OWN_WORDS,
                    "scale": {
                        "score": 7,
                        "question": "How safe do you feel?",
                        "scored_by": "child",
                    },
                    "method": "talking",
                    "consent_to_share": True,
                },
            }
            for child in case.children
        ],
        "observations": OBSERVATIONS,
        "analysis": "No new concerns.",
        "next_actions": "Visit again within 10 working days.",
    }
    body.update(overrides)
    return body


def new_id() -> str:
    return str(uuid.uuid4())


FAST_TEST_SETTINGS = {
    "ARGON2_TIME_COST": 1,
    "ARGON2_MEMORY_COST_KIB": 1024,
    "LOGIN_RATE_LIMIT": "10000 per minute",
    "LOGIN_ACCOUNT_RATE_LIMIT": "10000 per minute",
}


def standalone_app(
    settings: dict[str, Any], children: int = 1
) -> tuple[Any, Any, dict[str, str], dict[str, Any]]:
    """A separately configured app on its own migrated database, with one worker and one case.

    Returns the app, a test client, the worker's auth headers and a submittable visit body.
    """
    from flask_migrate import upgrade

    from service import create_app

    app = create_app({**FAST_TEST_SETTINGS, **settings})
    with app.app_context():
        upgrade()
        team = make_team()
        worker = make_user("social_worker", [team])
        case = make_case(team, worker, children)
        body = visit_body(db.session.get(Case, case.id))
        username = worker.username
        db.session.commit()
    client = app.test_client()
    tokens = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {tokens.get_json()['access_token']}"}
    return app, client, headers, body
