"""The hash chains: each event's hash covers its content and the hash of the event before it.

Events are spread over ``AUDIT_CHAINS`` chains by a hash of the child they concern (or the actor,
or nothing), so writers about different children do not queue on one head. On PostgreSQL each
chain's head is serialised with a transaction-level advisory lock, taken in chain order (so two
writers never deadlock on each other), and ``UNIQUE(chain, seq)`` makes a fork impossible even
if the lock were bypassed. SQLite serialises every writer already (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
import zlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.orm import Session

from service.audit.models import AuditEvent

GENESIS = "0" * 64
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


def chain_for(child_id: uuid.UUID | None, actor_id: uuid.UUID | None, chains: int) -> int:
    """The chain an event goes to: by its child, else its actor, else chain 0."""
    key = child_id or actor_id
    if key is None:
        return 0
    return zlib.crc32(key.bytes) % chains


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


def _lock_and_read_heads(session: Session, chains: list[int]) -> dict[int, tuple[int, str]]:
    """Take the chains' locks (PostgreSQL), then read each head as it is now."""
    if session.get_bind().dialect.name == "postgresql":
        for chain in chains:  # in ascending order: no two writers wait on each other in a cycle
            session.execute(
                text("SELECT pg_advisory_xact_lock(:lock_class, :chain)"),
                {"lock_class": ADVISORY_LOCK_CLASS, "chain": chain},
            )
    heads: dict[int, tuple[int, str]] = {}
    head_query = (
        select(AuditEvent.seq, AuditEvent.hash)
        .where(AuditEvent.chain == bindparam("chain"))
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )
    for chain in chains:
        head = session.execute(head_query, {"chain": chain}).first()
        heads[chain] = (head.seq, head.hash) if head else (0, GENESIS)
    return heads


def append(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Chain and insert ``rows`` (each with ``chain`` set and every hashed column), in order.

    Runs inside the caller's transaction, so the events commit or roll back with the change
    they describe. Returns how many were written.
    """
    rows = list(rows)
    if not rows:
        return 0
    heads = _lock_and_read_heads(session, sorted({row["chain"] for row in rows}))
    for row in rows:
        seq, prev_hash = heads[row["chain"]]
        row["seq"] = seq + 1
        row["prev_hash"] = prev_hash
        row["hash"] = event_hash(prev_hash, row)
        heads[row["chain"]] = (row["seq"], row["hash"])
    session.execute(insert(AuditEvent), rows)
    return len(rows)
