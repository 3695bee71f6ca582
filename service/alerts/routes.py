"""Alerts in the service: a person's own, acknowledging one, their preferences, and the
managers' view of urgent alerts (acknowledged or not, by whom, how fast).

None of these shows child data (an alert names no child), so none writes to a child's access
log; acknowledging is a write the trail records.
"""

from __future__ import annotations

from typing import Any

from flask import g

from api_schemas.alerts import (
    AlertQuerySchema,
    AlertSchema,
    PreferencesInSchema,
    PreferencesSchema,
    UrgentAlertSchema,
    UrgentQuerySchema,
)
from service.alerts import kinds, operations
from service.alerts.models import Alert
from service.api import Blueprint, paginate_rows, paginate_select
from service.audit.events import Action, Subject
from service.audit.reads import audit_exempt
from service.audit.trail import record
from service.links import public_link

blp = Blueprint("alerts", __name__, description="Alerts: what is waiting for you, and urgent ones.")
MAX_ID = 9223372036854775807


def shown(alert: Alert) -> dict[str, Any]:
    """An alert as its reader sees it: the words emailed, and the link under PUBLIC_BASE_URL."""
    return {
        "id": alert.id,
        "kind": alert.kind,
        "subject": kinds.subject(alert.kind),
        "count": alert.count,
        "link": public_link(alert.path),
        "urgent": alert.urgent,
        "created_at": alert.created_at,
        "acknowledged_at": alert.acknowledged_at,
    }


@blp.get("/me/alerts")
@blp.login_required()
@blp.arguments(AlertQuerySchema, location="query")
@blp.response(200, AlertSchema(many=True))
@blp.paginate()
@audit_exempt("an alert names no child: kinds, counts and links only")
def my_alerts(filters: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
    """Your own alerts, newest first (filters: kind, acknowledged)."""
    page = paginate_select(operations.my_alerts(g.user, filters), pagination_parameters)
    return [shown(alert) for alert in page]


@blp.post(f"/me/alerts/<int(min=1, max={MAX_ID}):alert_id>/acknowledge")
@blp.login_required()
@blp.response(200, AlertSchema)
@blp.alt_response(404, description="No such alert of yours")
@audit_exempt("a write: recorded in the view")
def acknowledge(alert_id: int) -> dict[str, Any]:
    """Acknowledge one of your alerts. Again, it changes nothing: the first time stays."""
    alert, changed = operations.acknowledge(g.user, alert_id)
    if changed:
        record(Action.UPDATE, Subject("alert", alert.id), changed_fields=("acknowledged_at",))
    return shown(alert)


@blp.get("/me/alert-preferences")
@blp.login_required()
@blp.response(200, PreferencesSchema)
@audit_exempt("a person's own settings: no child data")
def get_preferences() -> dict[str, Any]:
    """Your alert preferences: the address they go to, kinds switched off, kinds you cannot."""
    return operations.preferences(g.user)


@blp.put("/me/alert-preferences")
@blp.login_required()
@blp.arguments(PreferencesInSchema)
@blp.response(200, PreferencesSchema)
@blp.alt_response(422, description="A mandatory kind cannot be switched off")
@audit_exempt("a write: recorded in the view")
def put_preferences(body: dict[str, Any]) -> dict[str, Any]:
    """Switch off emails of some kinds (they stay listed here). Mandatory kinds refuse (422)."""
    shown_preferences = operations.set_muted(g.user, body["muted"])
    # Which alerts a person stopped receiving, and when: a question an inquiry may ask.
    record(
        Action.UPDATE,
        Subject("alert_preferences", g.user.id),
        changed_fields=("muted",),
        muted=shown_preferences["muted"],
    )
    return shown_preferences


@blp.get("/alerts/urgent")
@blp.login_required("manager")
@blp.arguments(UrgentQuerySchema, location="query")
@blp.response(200, UrgentAlertSchema(many=True))
@blp.paginate()
@audit_exempt("who was alerted and when: no child data")
def urgent_alerts(filters: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
    """Urgent alerts, newest first: to whom, acknowledged or not, and how fast."""
    rows = paginate_rows(operations.urgent_alerts(filters), pagination_parameters)
    return [
        {
            **shown(alert),
            "recipient": user,
            "acknowledged": alert.acknowledged_at is not None,
            "seconds_to_acknowledge": (
                round((alert.acknowledged_at - alert.created_at).total_seconds(), 1)
                if alert.acknowledged_at
                else None
            ),
        }
        for alert, user in rows
    ]
