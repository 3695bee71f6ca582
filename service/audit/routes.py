"""The audit trail's endpoints: the trail, a child's access log, the unusual access report."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import Response, stream_with_context
from sqlalchemy import func, select

from api_schemas.audit import (
    AccessLogEntrySchema,
    AccessLogQuerySchema,
    AuditEventSchema,
    AuditQuerySchema,
    UnusualHitSchema,
    UnusualQuerySchema,
)
from service.api import Blueprint, paginate_rows, paginate_select
from service.audit import queries, unusual
from service.audit.events import Action, Subject
from service.audit.reads import audited
from service.columns import utcnow
from service.extensions import db

blp = Blueprint("audit", __name__, description="The audit trail: who saw what, provably.")

AUDITORS = ("admin", "manager")


def _trail_read(result: Any, **view_args: Any) -> list[Subject]:
    return [Subject("audit_trail", None)]


def _access_log_read(result: Any, child_id: uuid.UUID, **view_args: Any) -> list[Subject]:
    return [Subject("access_log", child_id, child_id)]


@blp.get("/audit")
@blp.login_required(*AUDITORS)
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditEventSchema(many=True))
@blp.alt_response(200, schema={"type": "string"}, content_type="text/csv", success=True)
@blp.paginate()
@audited(Action.READ, subjects=_trail_read)
def audit_trail(filters: dict[str, Any], pagination_parameters: Any) -> Any:
    """Audit events, newest first: filter by ``actor_id``, ``child_id``, ``record_type``,
    ``record_id``, ``action``, ``since`` and ``until``. Paginated; ``?format=csv`` streams every
    matching event as CSV instead (no pages). Events hold ids and field names, never content.
    """
    query = queries.event_query(filters)
    if filters["format"] == "csv":
        total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
        pagination_parameters.item_count = int(total or 0)  # every row is in the file
        db.session.commit()  # this read is in the trail before the first byte leaves
        return Response(
            stream_with_context(queries.as_csv(query)),
            mimetype="text/csv",
            headers={
                "Content-Disposition": 'attachment; filename="audit.csv"',
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
            },
        )
    return paginate_select(query, pagination_parameters)


@blp.get("/children/<uuid:child_id>/access-log")
@blp.login_required(*AUDITORS)
@blp.arguments(AccessLogQuerySchema, location="query")
@blp.response(200, AccessLogEntrySchema(many=True))
@blp.paginate()
@audited(Action.READ, subjects=_access_log_read)
def child_access_log(
    filters: dict[str, Any], child_id: uuid.UUID, pagination_parameters: Any
) -> list[dict[str, Any]]:
    """Who looked at or changed this child's records, when and from which device, newest first.

    Every event naming the child, reads included; a child that never existed (or was purged)
    has an empty log.
    """
    query = queries.access_log(child_id, filters["since"], filters["until"])
    rows = paginate_rows(query, pagination_parameters)
    return [queries.access_log_entry(*row) for row in rows]


@blp.get("/audit/unusual")
@blp.login_required(*AUDITORS)
@blp.arguments(UnusualQuerySchema, location="query")
@blp.response(200, UnusualHitSchema(many=True))
@audited(Action.READ, subjects=lambda result, **view_args: [Subject("unusual_access", None)])
def unusual_access(query: dict[str, Any]) -> list[dict[str, Any]]:
    """Unusual access in the last ``days`` days, oldest first, each hit explained: reads of a
    child outside the reader's teams, out of hours, far more children than the reader's usual,
    a dormant account active again, a child sharing the reader's surname, refused requests.
    """
    since = utcnow() - timedelta(days=query["days"])
    return [hit.as_dict() for hit in unusual.report(since)]
