"""Admin endpoints for deliveries to the core case system: the outbox list and a retry."""

from __future__ import annotations

from typing import Any

from flask import g

from api_schemas.core_system import OutboxMessageSchema, OutboxQuerySchema
from service.api import Blueprint, paginate_select
from service.audit.reads import audit_exempt
from service.core_system import outbox
from service.core_system.models import OutboxMessage

blp = Blueprint("outbox", __name__, description="Deliveries to the core case system (admins).")


@blp.get("/admin/outbox")
@blp.login_required("admin")
@blp.arguments(OutboxQuerySchema, location="query")
@blp.response(200, OutboxMessageSchema(many=True))
@blp.paginate()
@audit_exempt("delivery states only, never the payload")
def list_messages(filters: dict[str, Any], pagination_parameters: Any) -> list[OutboxMessage]:
    """Messages for the core system, newest first; filter by status, visit or event.

    Shows where each is (pending, delivered, dead), how often it was tried, the last error and
    the next attempt; never the payload, which holds children's records.
    """
    return paginate_select(outbox.message_query(filters), pagination_parameters)


@blp.post("/admin/outbox/<int(min=1, max=9223372036854775807):message_id>/retry")
@blp.login_required("admin")
@blp.response(200, OutboxMessageSchema)
@blp.alt_response(404, description="No such message")
@blp.alt_response(409, description="Not a dead letter (pending or delivered)")
@audit_exempt("a write: outbox.retry records it")
def retry_message(message_id: int) -> OutboxMessage:
    """Queue a dead letter again, to be tried at once (audited)."""
    return outbox.retry(g.user, message_id)
