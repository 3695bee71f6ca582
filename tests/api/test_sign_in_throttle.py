"""Issue #13 part 4: failed sign-ins are counted per account as well as per address.

A whole office behind one address keeps signing in while one of its accounts is throttled; an
attacker spraying one account from many addresses is stopped; an unknown username is throttled
exactly like a real one, so the answer never says whether an account exists.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.test_admin_user_pages import NEW_PASSWORD, _admin
from tests.desk import csrf_token, desk_post
from tests.factories import PASSWORD

TOKEN = "/api/v1/auth/token"
OFFICE = {"REMOTE_ADDR": "10.20.30.40"}


@pytest.fixture
def account_limit(app) -> Iterator[None]:
    """Three failed attempts per account in 15 minutes; a generous per-address limit."""
    saved = {name: app.config[name] for name in ("LOGIN_ACCOUNT_RATE_LIMIT", "LOGIN_RATE_LIMIT")}
    app.config.update(LOGIN_ACCOUNT_RATE_LIMIT="3 per 15 minutes", LOGIN_RATE_LIMIT="60 per minute")
    yield
    app.config.update(saved)


def sign_in(client, username, password="wrong", address=OFFICE):  # noqa: S107
    return client.post(
        TOKEN, json={"username": username, "password": password}, environ_base=address
    )


def address(number: int) -> dict[str, str]:
    return {"REMOTE_ADDR": f"198.51.100.{number}"}


@pytest.mark.usefixtures("account_limit")
def test_one_account_is_throttled_while_colleagues_behind_the_same_address_sign_in(client, world):
    locked = world.usernames["worker_a"]
    assert [sign_in(client, locked).status_code for _ in range(3)] == [401, 401, 401]
    refused = sign_in(client, locked, PASSWORD)  # even the right password waits
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "auth.account_locked"
    assert 850 <= int(refused.headers["Retry-After"]) <= 900
    for colleague in ("worker_a2", "worker_b", "supervisor_a", "manager"):
        assert sign_in(client, world.usernames[colleague], PASSWORD).status_code == 200


@pytest.mark.usefixtures("account_limit")
def test_spraying_one_account_from_many_addresses_is_throttled(client, world):
    target = world.usernames["supervisor_b"]
    replies = [sign_in(client, target, address=address(n)) for n in range(1, 5)]
    assert [reply.status_code for reply in replies] == [401, 401, 401, 429]
    assert replies[-1].get_json()["code"] == "auth.account_locked"
    # The same username typed with other capitals and spaces is the same account.
    assert sign_in(client, f" {target.upper()} ", address=address(9)).status_code == 429


@pytest.mark.usefixtures("account_limit")
def test_an_unknown_username_is_throttled_exactly_like_a_real_one(client, world):
    def locked_reply(username: str, first: int):
        for n in range(first, first + 3):
            assert sign_in(client, username, address=address(n)).status_code == 401
        return sign_in(client, username, address=address(first + 3))

    real = locked_reply(world.usernames["worker_b"], 20)
    made_up = locked_reply("nobody-by-this-name", 30)
    assert real.status_code == made_up.status_code == 429
    assert real.get_json() == made_up.get_json()
    assert real.headers["Retry-After"] == made_up.headers["Retry-After"]


@pytest.mark.usefixtures("account_limit")
def test_the_desk_form_counts_against_the_same_account(client, world):
    username = world.usernames["worker_a2"]
    for _ in range(3):
        assert sign_in(client, username).status_code == 401
    token = csrf_token(client)
    page = client.post(
        "/desk/sign-in",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        environ_base=address(40),
    )
    assert page.status_code == 429 and "Retry-After" in page.headers
    assert "Too many attempts" in page.get_data(as_text=True)


@pytest.mark.usefixtures("account_limit")
def test_a_right_password_within_the_budget_still_signs_in(client, world):
    username = world.usernames["manager"]
    assert [sign_in(client, username).status_code for _ in range(2)] == [401, 401]
    assert sign_in(client, username, PASSWORD).status_code == 200


@pytest.mark.usefixtures("account_limit")
def test_an_admin_resetting_the_password_unlocks_the_account(app, client, world):
    username = world.usernames["supervisor_a"]
    for _ in range(3):
        sign_in(client, username)
    assert sign_in(client, username, PASSWORD).status_code == 429
    admin = _admin(app, app.test_client(), world)
    page = f"/desk/admin/users/{world.user_ids['supervisor_a']}/password"
    assert desk_post(admin, page, {"password": NEW_PASSWORD}, page).status_code == 302
    assert sign_in(client, username, NEW_PASSWORD).status_code == 200
