"""Password hashing with argon2, tuned from configuration, and the rule a new password meets."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from service.columns import is_storable


def _hasher() -> PasswordHasher:
    hasher = current_app.extensions.get("password_hasher")
    if hasher is None:
        hasher = PasswordHasher(
            time_cost=current_app.config["ARGON2_TIME_COST"],
            memory_cost=current_app.config["ARGON2_MEMORY_COST_KIB"],
        )
        # Checked against when the username is unknown, so both answers take as long. Stored
        # before the hasher: a thread that finds the hasher finds this too (threaded workers'
        # first sign-ins arrive together; an unknown username then was a 500).
        current_app.extensions["dummy_password_hash"] = hasher.hash("no such user")
        current_app.extensions["password_hasher"] = hasher
    return hasher


def hash_password(password: str) -> str:
    """Return an argon2 hash of ``password``."""
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check ``password``; with no hash (unknown user), spend the same time and return False."""
    hasher = _hasher()
    try:
        return hasher.verify(
            password_hash or current_app.extensions["dummy_password_hash"], password
        ) and (password_hash is not None)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than configured now."""
    return _hasher().check_needs_rehash(password_hash)


MIN_PASSWORD_LENGTH = 12
# The desk's sign-in form takes up to 200 characters: a longer password could never be typed there.
MAX_PASSWORD_LENGTH = 200
# Too well known to protect anything: the top of breached-password lists, keyboard walks, and
# this service's own names (the demo password among them). Compared without regard to case.
COMMON_PASSWORDS = frozenset(
    {
        "password123",
        "password1",
        "123456789",
        "qwerty123",
        "iloveyou",
        "123456789012",
        "1234567890123",
        "12345678901234",
        "123456123456",
        "111111111111",
        "000000000000",
        "123123123123",
        "qwertyuiop12",
        "qwertyuiop123",
        "qwerty123456",
        "qwertyuiopasdf",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "zaq12wsxcde3",
        "asdfghjkl123",
        "password1234",
        "password12345",
        "password123456",
        "passwordpassword",
        "password1234!",
        "p@ssw0rd1234",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "welcome123456",
        "changeme1234",
        "administrator",
        "administrator1",
        "sunshine1234",
        "football1234",
        "monkey123456",
        "princess1234",
        "trustno1trustno1",
        "correct horse battery staple",
        "correcthorsebatterystaple",
        "demo-password",
        "seen-and-heard",
        "seenandheard1",
        "seenandheard123",
        "socialworker1",
        "socialworker123",
        "safeguarding1",
        "safeguarding123",
    }
)


def password_problems(username: str, password: str) -> list[str]:
    """What is wrong with ``password`` as a new password for ``username``; empty when it is fine.

    At least :data:`MIN_PASSWORD_LENGTH` characters and at most :data:`MAX_PASSWORD_LENGTH`, not
    holding the username (any case; a username of one or two characters is left out, as almost
    any password would hold it), and not one of :data:`COMMON_PASSWORDS`.
    """
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"use at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"use at most {MAX_PASSWORD_LENGTH} characters")
    if not is_storable(password):  # the sign-in form refuses them: the account could not be used
        problems.append("do not use NUL characters or unpaired surrogates")
    name = username.strip().casefold()
    if len(name) >= 3 and name in password.casefold():
        problems.append("do not include the username")
    if password.casefold() in COMMON_PASSWORDS:
        problems.append("it is one of the most common passwords; choose another")
    return problems
