"""The hash chains: each event's hash covers its content and the hash of the event before it.

Events are spread over ``AUDIT_CHAINS`` chains: each transaction appends all its events to one
chain, the first free one, so concurrent writers do not queue on one head (a chain by child
would make every request about one busy family wait for the one before it to commit). On
PostgreSQL each chain's head is serialised with a transaction-level advisory lock, and
``UNIQUE(chain, seq)`` makes a fork impossible even if the lock were bypassed. SQLite serialises
every writer already (``BEGIN IMMEDIATE``). Which chain an event is in says nothing about it;
a child's events are found by ``child_id``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from service.audit.models import AuditEvent

GENESIS = "0" * 64
# Built once, and run on the session's connection (in its transaction): the statements of
# every commit that records something.
_CLAIM = text("SELECT * FROM audit_claim_chain(:lock_class, CAST(:order AS integer[]))")
# A Core insert of the table (the rows' keys are its column names): the ORM's bulk path adds
# nothing here (no relationships, no events) but its own bookkeeping.
_INSERT = insert(cast(Table, AuditEvent.__table__))
# An arbitrary constant naming our advisory locks, so they never collide with another user's.
ADVISORY_LOCK_CLASS = 0x5EE4

# The columns a hash covers, in a fixed order. Adding one is a new chain format, not an edit.
HASHED = (
    "chain",
    "seq",
    "at",
    "actor_id",
    "actor_role",
    "action",
    "record_type",
    "record_id",
    "child_id",
    "remote_addr",
    "user_agent",
    "request_id",
    "device_id",
    "changed_fields",
    "snapshot_sha256",
    "details",
)


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def canonical(row: Mapping[str, Any]) -> bytes:
    """The bytes an event's hash covers: its hashed columns as canonical JSON."""
    content = {name: _plain(row[name]) for name in HASHED}
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def event_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """The hash of an event whose predecessor's hash is ``prev_hash``."""
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical(row))
    return digest.hexdigest()


def _claim_chain(session: Session, chains: int) -> tuple[int, int, str]:
    """Take a chain for this transaction and read its head: ``(chain, seq, hash)``.

    On PostgreSQL, the first free chain from a random start: ``audit_claim_chain`` (migration
    0011) tries each chain's advisory lock with ``pg_try_advisory_xact_lock`` and stops at the
    first it gets, so a writer only waits when every chain is busy (then for one, in the
    ordinary way); the lock is held until the transaction ends, so two transactions never append
    to one chain at once. The function reads the head after the lock, in a fresh snapshot, so
    the head includes every earlier writer's commit; lock and read cost one round trip.
    """
    start = secrets.randbelow(chains)
    if session.get_bind().dialect.name == "postgresql":
        order = [(start + step) % chains for step in range(chains)]
        parameters = {"order": order, "lock_class": ADVISORY_LOCK_CLASS}
        claimed = session.connection().execute(_CLAIM, parameters).one()
        return int(claimed.claimed), int(claimed.head_seq), claimed.head_hash or GENESIS
    # SQLite: every writer holds the database's one write lock already.
    head = session.execute(
        select(AuditEvent.seq, AuditEvent.hash)
        .where(AuditEvent.chain == start)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    return (start, head.seq, head.hash) if head else (start, 0, GENESIS)


def append(session: Session, rows: Iterable[dict[str, Any]], chains: int) -> int:
    """Chain and insert ``rows`` (each with every hashed column but ``chain`` and ``seq``).

    All the rows of one transaction go to one chain, in order, after its head as it is once
    the chain is ours (read after the lock, so it includes every earlier writer's commit).
    Runs inside the caller's transaction, so the events commit or roll back with the change
    they describe. Returns how many were written.
    """
    rows = list(rows)
    if not rows:
        return 0
    chain, seq, prev_hash = _claim_chain(session, chains)
    for row in rows:
        seq += 1
        row["chain"] = chain
        row["seq"] = seq
        row["prev_hash"] = prev_hash
        row["hash"] = prev_hash = event_hash(prev_hash, row)
    session.connection().execute(_INSERT, rows)
    return len(rows)
