"""What the audit trail records: the actions, and the subject an event is about.

Flask-free and database-free, so every feature can name an action without importing the trail's
machinery.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    """Everything the trail records. Reads and writes of child data, and refusals."""

    # Reads
    READ = "read"
    LIST = "list"
    EXPORT = "export"
    # Writes through the visit's life (service.visits.lifecycle.Action has the same names)
    CREATE = "create"
    UPDATE = "update"
    SUBMIT = "submit"
    APPROVE = "approve"
    RETURN = "return"
    ESCALATE = "escalate"
    AMEND = "amend"
    DELETE = "delete"
    ADD_EVIDENCE = "add_evidence"
    REMOVE_EVIDENCE = "remove_evidence"
    WITHDRAW_EVIDENCE = "withdraw_evidence"
    ERASE_EVIDENCE = "erase_evidence"
    # Other writes
    REPLAY = "replay"
    SYNC = "sync"
    TRIAGE = "triage"
    REVOKE = "revoke"
    DELIVER = "deliver"
    RETRY = "retry"
    LOOKUP = "lookup"
    HOLD = "hold"
    RELEASE = "release"
    PURGE = "purge"
    # Accounts, by an admin (never a password in the details)
    USER_CREATE = "user_create"
    USER_UPDATE = "user_update"
    USER_DISABLE = "user_disable"
    USER_ENABLE = "user_enable"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - an action's name, not a secret
    # Signing in and out, one event each (never a password, nor an unknown username as typed)
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_IN_LOCKED = "sign_in_locked"
    SIGN_OUT = "sign_out"
    REFRESH_TOKEN_REUSE = "refresh_token_reuse"  # noqa: S105 - an action's name, not a secret
    # Refusals: a record that exists but is not the caller's to see or change, or a role refused
    DENIED = "denied"


READS = frozenset({Action.READ, Action.LIST, Action.EXPORT})


@dataclass(frozen=True)
class Subject:
    """The record an event is about, and the child it concerns (if any).

    An event about several children is several events, one per child, so that "who looked at
    this child" is one indexed query.
    """

    record_type: str
    record_id: str | uuid.UUID | int | None
    child_id: uuid.UUID | None = None

    @property
    def record_key(self) -> str | None:
        """The record id as stored: a string, or None."""
        return None if self.record_id is None else str(self.record_id)


def about_children(
    record_type: str, record_id: str | uuid.UUID | int | None, child_ids: object
) -> list[Subject]:
    """One subject per child of the record; one without a child if it names none."""
    children = sorted({child for child in child_ids if child is not None}, key=str)  # type: ignore[attr-defined]
    if not children:
        return [Subject(record_type, record_id)]
    return [Subject(record_type, record_id, child) for child in children]
