"""Issue #9: of N writers holding one ETag, exactly one wins (DESIGN.md §5 Concurrency, §9).

The app runs under gunicorn with several workers on PostgreSQL; requests travel over real
connections and are released together from a barrier, so they meet in the database as a
tablet and two supervisors would. Losers get 412 ``visit.version_conflict``; a concurrent
duplicate of an idempotent request answers as a replay; nothing answers 500.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from service.cases.models import Case
from service.core_system.models import OutboxMessage
from service.extensions import db
from tests.factories import make_case, make_team, make_user, new_id, visit_body
from tests.served import Caller, Reply, ServedApp

pytestmark = pytest.mark.postgres

RACERS = 6
NEXT_STATUS = {"approve": "approved", "return": "returned"}


@dataclass
class Team:
    """One team of the council, signed in over HTTP, with a case of two children."""

    worker: Caller
    supervisors: list[Caller]
    manager: Caller
    body: dict[str, Any]


@pytest.fixture
def team(served: ServedApp) -> Team:
    def build() -> dict[str, Any]:
        team = make_team()
        worker = make_user("social_worker", [team])
        supervisors = [make_user("supervisor", [team]) for _ in range(2)]
        manager = make_user("manager", [team])
        case = make_case(team, worker, 2)
        return {
            "worker": worker.username,
            "supervisors": [supervisor.username for supervisor in supervisors],
            "manager": manager.username,
            "body": visit_body(db.session.get(Case, case.id)),
        }

    seeded = served.seed(build)
    return Team(
        worker=served.api.sign_in(seeded["worker"]),
        supervisors=[served.api.sign_in(name) for name in seeded["supervisors"]],
        manager=served.api.sign_in(seeded["manager"]),
        body=seeded["body"],
    )


def statuses(replies: list[Reply]) -> list[int]:
    return sorted(reply.status for reply in replies)


def assert_no_server_errors(served: ServedApp, replies: list[Reply]) -> None:
    errors = [reply for reply in replies if reply.status >= 500]
    assert not errors, f"{[r.status for r in replies]}\n{errors[0].json}\n{served.log()}"


def assert_version_conflict(reply: Reply) -> None:
    assert reply.status == 412
    assert reply.content_type == "application/problem+json"
    assert reply.code == "visit.version_conflict"


def create_draft(team: Team, **overrides: Any) -> str:
    visit_id = new_id()
    reply = team.worker.put(f"/visits/{visit_id}", json={**team.body, **overrides})
    assert reply.status == 201, reply.json
    return visit_id


def create_submitted(team: Team) -> str:
    visit_id = create_draft(team)
    reply = team.worker.post(f"/visits/{visit_id}/submit", headers={"If-Match": '"1"'})
    assert reply.status == 200, reply.json
    return visit_id


def current_etag(caller: Caller, visit_id: str) -> str:
    reply = caller.get(f"/visits/{visit_id}")
    assert reply.status == 200 and reply.etag, reply.json
    return reply.etag


def decision(number: int) -> dict[str, str]:
    if number % 2:
        return {"decision": "return", "comment": f"Please add the school's view ({number})."}
    return {"decision": "approve", "comment": f"Seen and heard ({number})."}


def test_concurrent_decisions_on_one_etag_record_exactly_one(served, team):
    visit_id = create_submitted(team)
    etag = current_etag(team.supervisors[0], visit_id)
    bodies = [decision(number) for number in range(RACERS)]
    replies = served.api.race(
        [
            team.supervisors[number % 2].request(
                "POST", f"/visits/{visit_id}/review", json=body, headers={"If-Match": etag}
            )
            for number, body in enumerate(bodies)
        ]
    )

    assert_no_server_errors(served, replies)
    assert statuses(replies) == [201] + [412] * (RACERS - 1), statuses(replies)
    winner = next(number for number, reply in enumerate(replies) if reply.status == 201)
    for reply in replies:
        if reply.status != 201:
            assert_version_conflict(reply)
    reviews = team.manager.get(f"/visits/{visit_id}/reviews").json
    assert [review["decision"] for review in reviews] == [bodies[winner]["decision"]]
    assert reviews[0]["comment"] == bodies[winner]["comment"]
    visit = team.manager.get(f"/visits/{visit_id}").json
    assert visit["status"] == NEXT_STATUS[bodies[winner]["decision"]]
    # An approval leaves one message for the core system; the losers' rolled back with them.
    approved = bodies[winner]["decision"] == "approve"
    assert (visit["delivery"] or {}).get("state") == ("pending" if approved else None)
    messages = served.seed(
        lambda: db.session.scalar(
            select(func.count()).where(OutboxMessage.visit_id == uuid.UUID(visit_id))
        )
    )
    assert messages == (1 if approved else 0)


def test_concurrent_edits_on_one_etag_keep_exactly_one(served, team):
    visit_id = create_draft(team)
    etag = current_etag(team.worker, visit_id)
    observations = [f"Edit {number}: kitchen tidy, dog in the garden." for number in range(RACERS)]
    replies = served.api.race(
        [
            team.worker.request(
                "PUT",
                f"/visits/{visit_id}",
                json={**team.body, "observations": text},
                headers={"If-Match": etag},
            )
            for text in observations
        ]
    )

    assert_no_server_errors(served, replies)
    assert statuses(replies) == [200] + [412] * (RACERS - 1), statuses(replies)
    winner = next(number for number, reply in enumerate(replies) if reply.status == 200)
    for reply in replies:
        if reply.status != 200:
            assert_version_conflict(reply)
    visit = team.worker.get(f"/visits/{visit_id}").json
    assert visit["version"] == 2
    assert visit["observations"] == observations[winner]


def test_concurrent_submits_make_one_version_and_answer_as_replays(served, team):
    visit_id = create_draft(team)
    etag = current_etag(team.worker, visit_id)
    replies = served.api.race(
        [
            team.worker.request(
                "POST",
                f"/visits/{visit_id}/submit",
                headers={"If-Match": etag} if number % 2 == 0 else {},
            )
            for number in range(RACERS)
        ]
    )

    assert_no_server_errors(served, replies)
    assert set(statuses(replies)) <= {200, 412}, statuses(replies)
    assert 200 in statuses(replies)
    for reply in replies:
        if reply.status == 200:
            assert reply.json["status"] == "submitted"
        else:
            assert_version_conflict(reply)
    versions = team.worker.get(f"/visits/{visit_id}/versions").json
    assert [version["number"] for version in versions] == [1]


def test_a_submit_replayed_with_the_etag_it_was_sent_with_is_a_replay(served, team):
    """The tablet lost the answer to its submit and sends it again, If-Match and all."""
    visit_id = create_draft(team)
    etag = current_etag(team.worker, visit_id)
    first = team.worker.post(f"/visits/{visit_id}/submit", headers={"If-Match": etag})
    assert first.status == 200, first.json

    replay = team.worker.post(f"/visits/{visit_id}/submit", headers={"If-Match": etag})
    assert replay.status == 200, (replay.status, replay.json)
    assert replay.json["status"] == "submitted"
    assert replay.json["version"] == first.json["version"]
    assert len(team.worker.get(f"/visits/{visit_id}/versions").json) == 1


def test_an_edit_racing_a_submit_never_leaks_into_or_out_of_a_version(served, team):
    """Each round one PUT and one submit carry the same ETag: one wins, the other gets 412.

    Whenever the visit ends a round submitted (nothing can change it then), its latest version
    holds exactly the live record's observations: no uncommitted edit inside a version, and no
    committed edit missing from it. A submitted visit is returned for the next round. At least
    six rounds, and more (up to twelve) until a submit has won one, so a version is checked.
    """
    visit_id = create_draft(team, observations="Round 0")
    failures = []
    submitted_rounds = 0
    for round_number in range(1, 13):
        if round_number > 6 and submitted_rounds:
            break
        etag = current_etag(team.worker, visit_id)
        edit, submit = served.api.race(
            [
                team.worker.request(
                    "PUT",
                    f"/visits/{visit_id}",
                    json={**team.body, "observations": f"Round {round_number}"},
                    headers={"If-Match": etag},
                ),
                team.worker.request(
                    "POST", f"/visits/{visit_id}/submit", headers={"If-Match": etag}
                ),
            ]
        )
        assert_no_server_errors(served, [edit, submit])
        outcome = f"round {round_number}: PUT {edit.status}, submit {submit.status}"
        if sorted([edit.status, submit.status]) != [200, 412]:
            failures.append(f"{outcome}: not exactly one winner")
        for reply in (edit, submit):
            if reply.status == 412:
                assert_version_conflict(reply)
        visit = team.worker.get(f"/visits/{visit_id}").json
        if visit["status"] != "submitted":
            continue
        submitted_rounds += 1
        versions = team.worker.get(f"/visits/{visit_id}/versions").json
        latest = team.worker.get(f"/visits/{visit_id}/versions/{versions[-1]['number']}").json
        if latest["snapshot"]["observations"] != visit["observations"]:
            failures.append(
                f"{outcome}: version {latest['number']} holds "
                f"{latest['snapshot']['observations']!r}, the record {visit['observations']!r}"
            )
        returned = team.supervisors[0].post(
            f"/visits/{visit_id}/review",
            json=decision(1),
            headers={"If-Match": current_etag(team.supervisors[0], visit_id)},
        )
        assert returned.status == 201, returned.json
    assert not failures, "\n".join(failures)
    assert submitted_rounds, "no submit won a round, so no version was checked"


@pytest.mark.parametrize("if_match", ["star", "weak"])
def test_a_decision_needs_the_strong_etag_of_the_version_seen(served, team, if_match):
    """``If-Match: *`` or a weak ETag would let a supervisor approve a version never seen."""
    visit_id = create_submitted(team)
    etag = current_etag(team.supervisors[0], visit_id)
    header = "*" if if_match == "star" else f"W/{etag}"
    reply = team.supervisors[0].post(
        f"/visits/{visit_id}/review", json=decision(0), headers={"If-Match": header}
    )

    assert reply.status in (412, 428), (reply.status, reply.json)
    assert reply.content_type == "application/problem+json"
    assert team.manager.get(f"/visits/{visit_id}/reviews").json == []
    assert team.manager.get(f"/visits/{visit_id}").json["status"] == "submitted"
    strong = team.supervisors[0].post(
        f"/visits/{visit_id}/review", json=decision(0), headers={"If-Match": etag}
    )
    assert strong.status == 201, strong.json


def test_concurrent_creates_of_one_visit_id_store_one_visit(served, team):
    visit_id = new_id()
    replies = served.api.race(
        [
            team.worker.request("PUT", f"/visits/{visit_id}", json=team.body)
            for _ in range(RACERS + 2)
        ]
    )

    assert_no_server_errors(served, replies)
    assert statuses(replies) == [200] * (RACERS + 1) + [201], statuses(replies)
    assert {(reply.json["id"], reply.json["version"]) for reply in replies} == {(visit_id, 1)}
    url = served.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM visits WHERE id = %s", (visit_id,))
        assert row.fetchone() == (1,)
