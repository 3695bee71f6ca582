"""Anchors: each chain's head, signed (Ed25519) and written outside the database.

Someone able to rewrite the whole database can re-hash every chain consistently; they cannot
re-sign the anchors (the key is not in the database) nor, with S3 Object Lock in COMPLIANCE
mode, replace them. :mod:`service.audit.verify` checks every chain against them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import current_app
from sqlalchemy import func, select

from service.audit.models import AuditEvent
from service.columns import utcnow
from service.extensions import db
from storage import EvidenceStore, open_store

log = logging.getLogger(__name__)

FORMAT = "seen-and-heard.audit-anchor/1"
PREFIX = "audit-anchors/"


@dataclass(frozen=True)
class Anchor:
    """A signed statement: chain ``chain`` had ``seq`` events, the last hashing to ``hash``."""

    chain: int
    seq: int
    hash: str
    anchored_at: str
    key: str
    # Every chain that had events when this anchor was written (all are anchored in one run),
    # so a chain with events but no anchor of its own can be told apart: begun since (not yet
    # anchored) or named here (its anchors were removed).
    run_chains: tuple[int, ...] = ()


def signing_key() -> Ed25519PrivateKey:
    """The anchor signing key from ``AUDIT_SIGNING_KEY`` (base64 of a 32-byte Ed25519 seed).

    Outside production, without one, a key is derived from ``SECRET_KEY`` (refused in
    production, where the setting is required).
    """
    configured = current_app.config.get("AUDIT_SIGNING_KEY")
    if configured:
        seed = base64.b64decode(configured)
    else:
        seed = hashlib.sha256(b"audit-anchor:" + current_app.config["SECRET_KEY"].encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_text(key: Ed25519PublicKey) -> str:
    """The public key as base64 of its 32 raw bytes: what a verifier needs, nothing more."""
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def anchor_store() -> EvidenceStore:
    """Where anchors go: ``AUDIT_ANCHOR_STORE``, or the evidence store."""
    url = current_app.config.get("AUDIT_ANCHOR_STORE")
    if not url:
        store: EvidenceStore = current_app.extensions["evidence_store"]
        return store
    cached = current_app.extensions.get("audit_anchor_store")
    if cached is None:
        cached = open_store(url, current_app.config)
        current_app.extensions["audit_anchor_store"] = cached
    return cached


def _document_bytes(document: dict[str, object]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def heads() -> dict[int, tuple[int, str]]:
    """Each chain's head as the database holds it now: ``{chain: (seq, hash)}``."""
    last = (
        select(AuditEvent.chain, func.max(AuditEvent.seq).label("seq"))
        .group_by(AuditEvent.chain)
        .subquery()
    )
    rows = db.session.execute(
        select(AuditEvent.chain, AuditEvent.seq, AuditEvent.hash).join(
            last, (AuditEvent.chain == last.c.chain) & (AuditEvent.seq == last.c.seq)
        )
    )
    return {row.chain: (row.seq, row.hash) for row in rows}


def write_anchors(skip: dict[int, int] | None = None) -> list[Anchor]:
    """Sign and store every chain's head (except those already anchored at that ``seq``)."""
    key = signing_key()
    store = anchor_store()
    lock_days = int(current_app.config.get("AUDIT_ANCHOR_LOCK_DAYS", 0))
    now = utcnow()
    written = []
    current = heads()
    run_chains = sorted(current)
    for chain, (seq, head_hash) in sorted(current.items()):
        if skip is not None and skip.get(chain) == seq:
            continue
        document = {
            "format": FORMAT,
            "chain": chain,
            "seq": seq,
            "hash": head_hash,
            "anchored_at": now.isoformat(timespec="seconds"),
            "run_chains": run_chains,
        }
        body = _document_bytes(
            {
                "anchor": document,
                "signature": base64.b64encode(key.sign(_document_bytes(document))).decode(),
                "public_key": public_key_text(key.public_key()),
            }
        )
        name = f"{PREFIX}chain-{chain:03d}/{seq:015d}-{now:%Y%m%dT%H%M%S%fZ}.json"
        if lock_days:
            store.put_locked(name, body, now + timedelta(days=lock_days))
        else:
            store.put(name, io.BytesIO(body))
        written.append(
            Anchor(chain, seq, head_hash, str(document["anchored_at"]), name, tuple(run_chains))
        )
    return written


class BadAnchor(ValueError):
    """An anchor file that is not valid JSON, not ours, or not signed by our key."""


def read_anchor(store: EvidenceStore, name: str, public_key: Ed25519PublicKey) -> Anchor:
    """Load and check one anchor; raise :class:`BadAnchor` if its signature does not verify."""
    try:
        stored = json.loads(b"".join(store.open(name)))
        document = stored["anchor"]
        signature = base64.b64decode(stored["signature"])
        public_key.verify(signature, _document_bytes(document))
        if document["format"] != FORMAT:
            raise BadAnchor(f"{name}: unknown format")
        return Anchor(
            int(document["chain"]),
            int(document["seq"]),
            str(document["hash"]),
            str(document["anchored_at"]),
            name,
            tuple(int(chain) for chain in document.get("run_chains", [])),
        )
    except InvalidSignature:
        raise BadAnchor(f"{name}: the signature does not verify with our key") from None
    except (ValueError, KeyError, TypeError) as error:
        raise BadAnchor(f"{name}: unreadable ({type(error).__name__})") from None


def stored_anchor_names(store: EvidenceStore) -> Iterator[str]:
    """The names of every stored anchor."""
    for item in store.list(PREFIX):
        if item.key.endswith(".json"):
            yield item.key


def latest_anchor_times(anchors: list[Anchor]) -> dict[int, datetime]:
    """When each chain was last anchored."""
    latest: dict[int, datetime] = {}
    for anchor in anchors:
        moment = datetime.fromisoformat(anchor.anchored_at)
        if anchor.chain not in latest or moment > latest[anchor.chain]:
            latest[anchor.chain] = moment
    return latest
