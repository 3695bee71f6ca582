"""The desk page of alerts: your own, to open and acknowledge; for managers, the urgent ones.

The list is :func:`operations.my_alerts` and acknowledging is :func:`operations.acknowledge`,
as the API's ``GET /me/alerts`` and ``POST /me/alerts/{id}/acknowledge``. No child data here:
an alert names no child.
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for

from service.alerts import kinds, operations
from service.audit.events import Action, Subject
from service.audit.trail import record
from service.columns import whole_number
from service.errors import NotFound
from service.extensions import db
from service.pages import PageBlueprint, render

blp = PageBlueprint("alerts_desk", __name__)

PER_PAGE = 50


@blp.get("/alerts")
@blp.in_navigation("Alerts", "social_worker", "supervisor", "manager", "admin")
@blp.signin_required()
def alerts() -> Any:
    """Your alerts, newest first, with what each is about and where to see it; a manager also
    sees the latest urgent alerts: to whom, acknowledged or not, and how fast.
    """
    mine = list(db.session.scalars(operations.my_alerts(g.user, {}).limit(PER_PAGE)))
    urgent = []
    if g.user.role == "manager":
        urgent = list(db.session.execute(operations.urgent_alerts({}).limit(PER_PAGE)).all())
    return render(
        "desk/alerts.html", mine=mine, urgent=urgent, subject=kinds.subject, wording=kinds.WORDING
    )


@blp.post("/alerts/acknowledge")
@blp.signin_required()
def acknowledge() -> Any:
    """Acknowledge one of your alerts (again: nothing changes); someone else's is a 404."""
    alert_id = whole_number(request.form.get("alert_id"), 9_223_372_036_854_775_807)
    if alert_id is None:
        raise NotFound("alert.not_found", "No such alert.")
    alert, changed = operations.acknowledge(g.user, alert_id)
    if changed:
        record(Action.UPDATE, Subject("alert", alert.id), changed_fields=("acknowledged_at",))
    flash("Alert acknowledged.", "success")
    return redirect(url_for("alerts_desk.alerts"))
