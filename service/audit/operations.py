"""Recording audit events in the same transaction as the read or write they describe."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from flask import has_request_context, request

from service.audit.models import AuditEvent
from service.auth.models import User
from service.extensions import db


def record(
    actor: User | None,
    action: str,
    record_type: str,
    record_ids: Iterable[uuid.UUID | str],
    **details: Any,
) -> None:
    """Add an audit event; it commits (or rolls back) with the request it belongs to.

    ``details`` must never hold child content (words, names): only ids, counts and codes.
    """
    db.session.add(
        AuditEvent(
            actor_id=actor.id if actor else None,
            actor_role=actor.role if actor else None,
            action=action,
            record_type=record_type,
            record_ids=[str(record_id) for record_id in record_ids],
            remote_addr=request.remote_addr if has_request_context() else None,
            details=details,
        )
    )
