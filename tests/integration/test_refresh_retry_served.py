"""Issue #13 part 4: a tablet on a bad connection sends its refresh twice at once.

Served by gunicorn (several workers) on PostgreSQL, the copies race to the database: the token's
row lock orders them, the first rotates and the others find the same successor. Every copy gets
the same pair, and the session lives on.
"""

from __future__ import annotations

import pytest

from service.auth.models import AuthSession
from service.extensions import db
from tests.factories import PASSWORD, make_user
from tests.served import Request, ServedApp

pytestmark = pytest.mark.postgres

COPIES = 4
ROUNDS = 5


def test_concurrent_refreshes_of_one_token_get_the_same_pair(served: ServedApp):
    username = served.seed(lambda: make_user("social_worker").username)
    signed_in = served.api.send(
        Request(
            "POST",
            "/api/v1/auth/token",
            json={"username": username, "password": PASSWORD, "device_id": "tablet-1"},
        )
    )
    assert signed_in.status == 200, signed_in.json
    refresh_token = signed_in.json["refresh_token"]
    for _ in range(ROUNDS):
        body = {"refresh_token": refresh_token}
        replies = served.api.race(
            [Request("POST", "/api/v1/auth/refresh", json=body) for _ in range(COPIES)]
        )
        assert [reply.status for reply in replies] == [200] * COPIES, (
            [reply.json for reply in replies],
            served.log(),
        )
        assert all(reply.json == replies[0].json for reply in replies)
        pair = replies[0].json
        assert pair["refresh_token"] != refresh_token
        who = served.api.send(Request("GET", "/api/v1/me", token=pair["access_token"]))
        assert who.status == 200 and who.json["username"] == username
        refresh_token = pair["refresh_token"]

    def sessions() -> list[tuple[object, object]]:
        return [(s.revoked_at, s.revoked_reason) for s in db.session.query(AuthSession)]

    assert served.seed(sessions) == [(None, None)]
