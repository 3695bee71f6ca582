"""Password hashing with argon2, tuned from configuration."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app


def _hasher() -> PasswordHasher:
    hasher = current_app.extensions.get("password_hasher")
    if hasher is None:
        hasher = PasswordHasher(
            time_cost=current_app.config["ARGON2_TIME_COST"],
            memory_cost=current_app.config["ARGON2_MEMORY_COST_KIB"],
        )
        current_app.extensions["password_hasher"] = hasher
        # Checked against when the username is unknown, so both answers take as long.
        current_app.extensions["dummy_password_hash"] = hasher.hash("no such user")
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
