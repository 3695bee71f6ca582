"""Recording audit events: one call, :func:`record`, from lifecycle subscribers, the policy
layer, the read hook and the few writes that have no lifecycle.

Events wait in the session until it commits; just before the commit they are chained and
inserted in the same transaction as the change they describe (so a rolled-back change leaves no
event, and an event never describes a change that did not happen). A refusal is recorded even
though the request rolls back: it is written in a fresh transaction straight after.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any, Protocol

from flask import Flask, current_app, g, has_app_context, has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from service.audit import chain
from service.audit.events import Action, Subject
from service.columns import utcnow
from service.database import after_rollback_write
from service.extensions import db

PENDING = "audit_pending"
DEFAULT_CHAINS = 16
USER_AGENT_MAX = 200


class Actor(Protocol):
    """Who did it: any signed-in user."""

    id: uuid.UUID
    role: str


class _Current:
    """The request's signed-in user (``g.user``), or nobody outside a request."""


CURRENT: Any = _Current()


def _request_context() -> dict[str, Any]:
    if not has_request_context():
        return {"remote_addr": None, "user_agent": None, "request_id": None, "device_id": None}
    agent = request.headers.get("User-Agent") or None
    return {
        "remote_addr": (request.remote_addr or "")[:64] or None,
        "user_agent": agent[:USER_AGENT_MAX] if agent else None,
        "request_id": g.get("request_id"),
        "device_id": g.get("auth_device_id"),
    }


def _plain_details(details: dict[str, Any]) -> dict[str, Any]:
    # Exactly what the JSON column will give back, so the hash verifies after a round trip.
    if not details:
        return {}  # most events: what the round trip would give, without it
    loaded: dict[str, Any] = json.loads(json.dumps(details, default=str))
    return loaded


def record(
    action: Action,
    subjects: Subject | Iterable[Subject],
    *,
    actor: Actor | None = CURRENT,
    changed_fields: Iterable[str] = (),
    snapshot_sha256: str | None = None,
    keep_on_rollback: bool = False,
    **details: Any,
) -> None:
    """Record ``action`` on each subject; it commits (or rolls back) with the current transaction.

    ``details`` and ``changed_fields`` must never hold child content (words, names): only ids,
    counts, codes and field names. With ``keep_on_rollback`` the event is written even if the
    request fails (refusals).
    """
    if actor is CURRENT:
        actor = g.get("user") if has_request_context() else None
    if isinstance(subjects, Subject):
        subjects = [subjects]
    common = {
        "at": utcnow(),
        "actor_id": actor.id if actor else None,
        "actor_role": actor.role if actor else None,
        "action": str(action),
        "changed_fields": sorted(set(changed_fields)),
        "snapshot_sha256": snapshot_sha256,
        "details": _plain_details(details),
        **_request_context(),
    }
    rows = [
        {
            **common,
            "record_type": subject.record_type,
            "record_id": subject.record_key,
            "child_id": subject.child_id,
        }
        for subject in subjects
    ]
    if not rows:
        return
    # Remember which (nested) transaction recorded them: a savepoint rolled back takes its
    # events with it, as it takes the changes they describe.
    session = db.session()
    owner = session.get_nested_transaction() or session.get_transaction()
    db.session.info.setdefault(PENDING, []).append((owner, rows))
    if keep_on_rollback:
        after_rollback_write(lambda: _write_now(rows))


def _write_now(rows: list[dict[str, Any]]) -> None:
    pending = db.session.info.setdefault(PENDING, [])
    # Recorded outside any transaction, the rows are still pending (no rollback forgot them):
    # written once, not twice.
    if not any(batch is rows for _, batch in pending):
        pending.append((None, rows))
    db.session.commit()


def _chain_pending(session: Session) -> None:
    """Before a commit: chain and insert the events this transaction recorded."""
    batches = session.info.pop(PENDING, None)
    if batches:
        chains = current_app.config["AUDIT_CHAINS"] if has_app_context() else DEFAULT_CHAINS
        chain.append(session, [row for _, rows in batches for row in rows], chains)


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _forget_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """After a rollback (of a savepoint or of everything): forget the events it undid."""
    batches = session.info.get(PENDING)
    if not batches:
        return
    kept = [(owner, rows) for owner, rows in batches if not _within(owner, previous_transaction)]
    if kept and session.in_transaction():
        session.info[PENDING] = kept
    else:
        session.info.pop(PENDING, None)


def discard_pending() -> None:
    """Forget events recorded but not yet written (a caller that rolls back on purpose)."""
    db.session.info.pop(PENDING, None)


def set_request_id() -> None:
    """Name the request: the caller's ``X-Request-Id`` if it is sane, or a fresh one."""
    given = request.headers.get("X-Request-Id", "")
    sane = 0 < len(given) <= 64 and all(ch.isalnum() or ch in "-_.:" for ch in given)
    g.request_id = given if sane else uuid.uuid4().hex


def echo_request_id(response: Any) -> Any:
    """Tell the caller the request's id, to quote it (it is in the audit trail)."""
    if g.get("request_id"):
        response.headers["X-Request-Id"] = g.request_id
    return response


def init_app(app: Flask) -> None:
    """Chain events at every commit; name every request."""
    app.config.setdefault("AUDIT_CHAINS", DEFAULT_CHAINS)
    if not event.contains(Session, "before_commit", _chain_pending):
        event.listen(Session, "before_commit", _chain_pending)
        event.listen(Session, "after_soft_rollback", _forget_rolled_back)
    app.before_request(set_request_id)
    app.after_request(echo_request_id)
