"""The rule a new password meets: long enough, without the username, not a common one."""

import pytest

from service.auth.passwords import COMMON_PASSWORDS, password_problems


def test_a_long_unusual_password_is_fine():
    assert password_problems("jo.worker", "tangerine kettle lighthouse") == []


@pytest.mark.parametrize(
    ("username", "password", "problem"),
    [
        ("jo.worker", "short pass", "use at least 12 characters"),
        ("jo.worker", "a" * 201, "use at most 200 characters"),
        ("jo.worker", "my-JO.WORKER-password", "do not include the username"),
        ("jo.worker", "QwertyUiop12", "it is one of the most common passwords; choose another"),
        ("jo.worker", "demo-password", "it is one of the most common passwords; choose another"),
    ],
)
def test_each_rule(username, password, problem):
    assert problem in password_problems(username, password)


def test_every_problem_is_listed_at_once():
    assert password_problems("password", "Password123") == [
        "use at least 12 characters",
        "do not include the username",
        "it is one of the most common passwords; choose another",
    ]


def test_a_one_or_two_character_username_is_not_searched_for():
    assert password_problems("al", "a long passphrase with al in it") == []


def test_the_list_is_small_and_lower_case():
    assert 20 <= len(COMMON_PASSWORDS) <= 50
    assert all(common == common.casefold() for common in COMMON_PASSWORDS)
