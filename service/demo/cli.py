"""``flask demo seed``: idempotent demo teams, sign-ins, cases, children and visits.

The visits are recorded, submitted and reviewed through the same operations as the API's, so
every list, count and version agrees with what a user would have made.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from service.auth.models import Team, User
from service.auth.passwords import hash_password
from service.auth.sign_in import account_named
from service.cases.models import Case, Child
from service.cases.operations import refresh_next_due, today
from service.demo.evidence import drawing_png, photo_jpeg, recording_wav
from service.evidence.operations import Upload, upload_attachment
from service.extensions import db
from service.feedback.models import Feedback
from service.reviews.operations import review_visit
from service.visits.lifecycle import etag
from service.visits.models import Visit
from service.visits.operations import create_visit, put_visit
from service.visits.submission import submit_visit

TEAMS = {"north": "North Locality Team", "south": "South Locality Team"}
USERS = [
    ("worker.north", "Asha Patel", "social_worker", ["north"]),
    ("worker2.north", "Ben Okafor", "social_worker", ["north"]),
    ("worker.south", "Carys Jones", "social_worker", ["south"]),
    ("supervisor.north", "Dana Whitfield", "supervisor", ["north"]),
    ("supervisor.south", "Emeka Obi", "supervisor", ["south"]),
    ("manager", "Fran Lowe", "manager", ["north", "south"]),
    ("admin", "Gil Marsh", "admin", []),
]
# Per worker: (plan type, days since the plan started, days since last seen on a statutory visit
# or None if never seen, seen alone then): every caseload has overdue and never-seen children.
# Visits older than APPROVED_AFTER_DAYS have been approved; the rest await review.
CASELOAD: list[list[tuple[str, int, int | None, bool]]] = [
    [("child_protection", 120, 16, True), ("child_protection", 120, 16, False)],
    [("child_in_need", 90, None, False)],
    [("looked_after", 400, 30, True), ("looked_after", 3, None, False)],
    [("care_leaver", 700, 75, True)],
]
APPROVED_AFTER_DAYS = 20
FIRST_NAMES = ["Amira", "Jayden", "Olivia", "Kai", "Maisie", "Tyler", "Zara", "Leo", "Ruby", "Noah"]
NAMESPACE = uuid.UUID("6f1d3c52-4b7e-4e35-9a0e-5d2f3c9b8a10")


def _team(name: str) -> Team:
    team = db.session.scalar(select(Team).where(Team.name == name))
    if team is None:
        team = Team(name=name, display_name=TEAMS[name])
        db.session.add(team)
    return team


def _user(username: str, display_name: str, role: str, teams: list[Team], password: str) -> User:
    user = account_named(username)  # as sign-in finds it: an `Admin` made by hand is `admin`
    if user is None:
        user = User(
            username=username,
            display_name=display_name,
            role=role,
            password_hash=hash_password(password),
            teams=teams,
        )
        db.session.add(user)
    return user


def _birth_date(plan_type: str, child_index: int, case_index: int) -> Any:
    """Young children, except care leavers, who are 16 to 25 (here 18 to 20)."""
    years = 18 + (case_index + child_index) % 3 if plan_type == "care_leaver" else 0
    years = years or 4 + 3 * child_index + case_index
    return today() - timedelta(days=365 * years + 30)


def _seed_caseload(worker: User, supervisor: User, team: Team, worker_index: int) -> int:
    created = 0
    for case_index, children in enumerate(CASELOAD, start=1):
        core_ref = f"DEMO-{team.name.upper()}-{worker_index}{case_index:02d}"
        if db.session.scalar(select(Case.id).where(Case.core_ref == core_ref)):
            continue
        opened = today() - timedelta(days=max(days for _, days, _, _ in children))
        case = Case(core_ref=core_ref, team=team, allocated_worker=worker, opened_on=opened)
        db.session.add(case)
        seeded: list[tuple[Child, int | None, bool]] = []
        for child_index, (plan_type, days, seen_ago, alone) in enumerate(children):
            name = FIRST_NAMES[(worker_index * 3 + case_index + child_index) % len(FIRST_NAMES)]
            child = Child(
                core_person_ref=f"{core_ref}-C{child_index + 1}",
                name=f"{name} {core_ref[-3:]}",
                date_of_birth=_birth_date(plan_type, child_index, case_index),
                plan_type=plan_type,
                plan_start_date=today() - timedelta(days=days),
            )
            refresh_next_due(child)
            case.children.append(child)
            seeded.append((child, seen_ago, alone))
        db.session.flush()
        for child, seen_ago, alone in seeded:
            if seen_ago is not None:
                _seed_visit(case, worker, supervisor, child, seen_ago, alone)
        created += 1
    return created


def _seed_visit(
    case: Case, worker: User, supervisor: User, child: Child, days_ago: int, alone: bool
) -> None:
    """Record, submit and (when old enough) approve a statutory visit at which ``child`` spoke."""
    started = datetime.combine(today() - timedelta(days=days_ago), time(10, 0), tzinfo=UTC)
    visit_id = uuid.uuid5(NAMESPACE, f"{case.core_ref}/{child.core_person_ref}")
    body: dict[str, Any] = {
        "case_id": case.id,
        "visit_type": "statutory",
        "announced": True,
        "started_at": started,
        "ended_at": started + timedelta(hours=1),
        "location": "family_home",
        "people_present": ["Mother"],
        "observations": "Home warm and tidy; food in the cupboards.",
        "analysis": "No new concerns.",
        "next_actions": "Next statutory visit as planned.",
        "children": [
            {
                "child_id": child.id,
                "seen": True,
                "seen_alone": alone,
                "not_seen_alone_reason": None if alone else "child_refused",
                "bedroom_seen": True,
                "voice": {
                    "own_words": "I like it when Nan picks me up from school.",
                    "method": "talking",
                    "consent_to_share": True,
                },
            }
        ],
    }
    visit, _ = create_visit(worker, visit_id, body)
    visit.recorded_at = started + timedelta(hours=3)
    if days_ago < APPROVED_AFTER_DAYS:
        _attach_evidence(worker, visit_id, child)
    visit = submit_visit(worker, visit_id, etag(visit), at=started + timedelta(hours=4))
    if days_ago < APPROVED_AFTER_DAYS:
        if not alone:
            _return_and_resubmit(worker, supervisor, visit, body, started)
        return
    decision: dict[str, Any] = {
        "decision": "approve",
        "comment": "Good visit.",
        "management_decision": None,
    }
    if not alone and child.plan_type == "child_protection":
        decision["management_decision"] = {
            "action": "Next visit unannounced; see the child alone at school.",
            "due_by": today() + timedelta(days=7),
        }
    review_visit(supervisor, visit_id, decision, etag(visit))


EVIDENCE = (
    ("drawing", "image/png", "house-drawing.png", drawing_png),
    ("photo", "image/jpeg", "bedroom.jpg", photo_jpeg),
    ("audio", "audio/x-wav", "in-her-words.wav", recording_wav),
)


def _attach_evidence(worker: User, visit_id: uuid.UUID, child: Child) -> None:
    """The child's drawing, a photo of their bedroom and a recording, through the upload path."""
    for kind, content_type, filename, make in EVIDENCE:
        content = make()
        upload = Upload(
            attachment_id=uuid.uuid5(NAMESPACE, f"{visit_id}/{kind}"),
            kind=kind,
            child_id=child.id,
            filename=filename,
            declared_type=content_type,
            declared_sha256=None,
            declared_length=len(content),
        )
        upload_attachment(worker, visit_id, upload, io.BytesIO(content))


def _return_and_resubmit(
    worker: User, supervisor: User, visit: Visit, body: dict[str, Any], started: datetime
) -> None:
    """A supervisor returns the record for more detail; the worker adds it and submits again,
    so the visit has two versions and a comment to show.
    """
    returned = {
        "decision": "return",
        "comment": "Say why she did not want to be seen alone.",
        "management_decision": {
            "action": "See her alone at school before the next core group.",
            "due_by": today() + timedelta(days=10),
        },
    }
    visit_id = visit.id
    _, visit = review_visit(supervisor, visit_id, returned, etag(visit))
    changed = {**body, "children": [dict(body["children"][0])]}
    changed["children"][0]["not_seen_alone_detail"] = "Wanted her mum to stay in the room."
    changed["analysis"] = "No new concerns; she was relaxed with her mother present."
    visit, _ = put_visit(worker, visit_id, changed, etag(visit))
    submit_visit(worker, visit_id, etag(visit))  # after the return, as it happened


FEEDBACK = (
    {
        "urgent": True,
        "anything_else": "I have nowhere to stay after Friday.",
        "wants_contact": True,
        "contact_name": "J",
        "contact_detail": "07700 900123",
    },
    {
        "life_satisfaction": 6,
        "worthwhile": 7,
        "happy_yesterday": 5,
        "anxious_yesterday": 4,
        "settled": "mostly",
        "anything_else": "My adviser helped me with college forms.",
    },
    {
        "life_satisfaction": 3,
        "worthwhile": 4,
        "happy_yesterday": 3,
        "anxious_yesterday": 8,
        "settled": "not_really",
        "coping_with_money": "struggling",
    },
)


def _seed_feedback() -> int:
    """A few care-leaver responses, one of them urgent, when there are none."""
    if db.session.scalar(select(Feedback.id).limit(1)) is not None:
        return 0
    for answers in FEEDBACK:
        db.session.add(Feedback(language="en", **answers))
    return len(FEEDBACK)


@click.group()
def demo() -> None:
    """Demo data."""


@demo.command("seed")
@with_appcontext
def seed() -> None:
    """Create the demo teams, sign-ins and caseloads; running it again adds nothing."""
    password = current_app.config["DEMO_PASSWORD"]
    teams = {name: _team(name) for name in TEAMS}
    users = {
        username: _user(username, display, role, [teams[t] for t in team_names], password)
        for username, display, role, team_names in USERS
    }
    db.session.flush()
    created = 0
    for index, username in enumerate(("worker.north", "worker2.north", "worker.south"), start=1):
        worker = users[username]
        team = worker.teams[0]
        supervisor = users[f"supervisor.{team.name}"]
        created += _seed_caseload(worker, supervisor, team, index)
    _seed_feedback()
    db.session.commit()
    click.echo(f"Demo data ready ({created} new cases). Sign in with password {password!r} as:")
    for username, display, role, team_names in USERS:
        click.echo(f"  {username:<18} {role:<14} {', '.join(team_names) or '-'}  ({display})")
