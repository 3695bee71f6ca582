"""The per-account sign-in throttle holds when guesses arrive all at once (issue #13 part 4).

Two gunicorn instances of two workers each (gthread, two threads: eight requests in flight), on
one PostgreSQL database and one Redis, get many wrong-password sign-ins for one username released
together from a barrier. Each attempt is taken atomically in Redis before the password is checked,
so at most ``LOGIN_ACCOUNT_RATE_LIMIT``'s number of passwords are checked (401); every other
request is refused unchecked (429 ``auth.account_locked``). Testing the limit first and counting
after the check let every racer through.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from service.audit.models import AuditEvent
from service.extensions import db
from tests.conftest import fresh_postgres_database
from tests.served import Request
from tests.shared_limits import (
    REDIS_URL,
    fresh_prefix,
    instances,
    redis_or_skip,
    right_password,
    wrong_password,
)

pytestmark = pytest.mark.postgres

TOKEN = "/api/v1/auth/token"
LIMIT = 3
RACERS = 24


def _settings(prefix: str) -> dict[str, str]:
    return {
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": prefix,
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "LOGIN_ACCOUNT_RATE_LIMIT": f"{LIMIT} per 15 minutes;100 per day",
    }


@pytest.mark.parametrize("account", ["real", "unknown"])
def test_racing_guesses_get_at_most_the_limit_of_password_checks(tmp_path, account):
    client = redis_or_skip()
    prefix = fresh_prefix()
    with (
        fresh_postgres_database() as url,
        instances(url, tmp_path, _settings(prefix), 2, 2) as served,
    ):
        target = served.user() if account == "real" else "nobody-by-this-name"
        colleague = served.user()
        guesses = [Request("POST", TOKEN, json=wrong_password(target))] * RACERS
        replies = [
            reply
            for api, share in zip(served.apis, (guesses[::2], guesses[1::2]), strict=True)
            for reply in api.race(share)
        ]
        statuses = Counter(reply.status for reply in replies)
        assert statuses == {401: LIMIT, 429: RACERS - LIMIT}, (statuses, served.log())
        assert {reply.code for reply in replies if reply.status == 429} == {"auth.account_locked"}
        # Still locked afterwards, even for the right password; a colleague is not.
        first, second = served.apis
        assert first.send(Request("POST", TOKEN, json=right_password(target))).status == 429
        assert second.send(Request("POST", TOKEN, json=right_password(colleague))).status == 200
        with served.seeder.app_context():
            counted = dict(
                db.session.execute(
                    select(AuditEvent.action, func.count())
                    .where(AuditEvent.action.like("sign_in%"))
                    .group_by(AuditEvent.action)
                ).all()
            )
            db.session.remove()
        cli = served.seeder.test_cli_runner()
        assert cli.invoke(args=["audit", "anchor"]).exit_code == 0  # as the worker does
        verified = cli.invoke(args=["audit", "verify"])
        # Every attempt is in the trail, though each refusal's request rolled back, and the
        # chains, appended to by every worker at once, verify.
        locked = RACERS - LIMIT + 1
        assert counted == {"sign_in_failed": LIMIT, "sign_in_locked": locked, "sign_in": 1}
        assert verified.exit_code == 0, verified.output
    client.delete(*client.keys(f"{prefix}:*"))


def test_parallel_right_passwords_all_sign_in_and_leave_nothing_counted(tmp_path):
    client = redis_or_skip()
    prefix = fresh_prefix()
    with (
        fresh_postgres_database() as url,
        instances(url, tmp_path, _settings(prefix), 2, 2) as served,
    ):
        username = served.user()
        first, second = served.apis
        # As many right passwords at once as the limit: each holds an attempt while its password
        # is checked, and gives it back on success.
        together = first.race([Request("POST", TOKEN, json=right_password(username))] * LIMIT)
        assert [reply.status for reply in together] == [200] * LIMIT, served.log()
        # Two mistakes, then the right password: the attempts are given back, so the full budget
        # of mistakes is there again.
        for api in (first, second):
            assert api.send(Request("POST", TOKEN, json=wrong_password(username))).status == 401
        assert second.send(Request("POST", TOKEN, json=right_password(username))).status == 200
        replies = [
            api.send(Request("POST", TOKEN, json=wrong_password(username)))
            for api in (first, second, first, second)
        ]
        assert [reply.status for reply in replies] == [401] * LIMIT + [429]
    client.delete(*client.keys(f"{prefix}:*"))
