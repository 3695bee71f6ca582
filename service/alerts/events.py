"""Alerts raised by events, in the event's own transaction: an urgent care leaver, and a
delivery to the core system that became a dead letter.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from service.alerts import channels, kinds, operations
from service.alerts.scan import scan_if_not_done_today
from service.core_system import worker
from service.core_system.models import ALERT, CORE_SYSTEM
from service.feedback.models import Feedback
from service.feedback.operations import feedback_received
from service.links import path_for


def on_feedback(feedback: Feedback, **_: Any) -> None:
    """An urgent response tells the duty contacts (``ALERTS_URGENT_FEEDBACK_TO``) by email at
    once, and every manager: in the service, and by email where they have an address.
    """
    if not feedback.urgent:
        return
    path = path_for("feedback_desk.feedback_item", feedback_id=feedback.id)
    operations.raise_alert(
        kinds.URGENT_FEEDBACK,
        operations.people_with_role("manager"),
        str(feedback.id),
        path,
        addresses=current_app.config["ALERTS_URGENT_FEEDBACK_TO"],
    )


def on_dead_letter(
    message_id: int, *, destination: str = CORE_SYSTEM, alert_kind: str | None = None, **_: Any
) -> None:
    """A delivery that failed for good tells the admins: to the core system, or an alert's
    email (an urgent one that never arrived must not go unnoticed). An email telling of a dead
    letter that is itself dead is kept in the service only, so a broken mail relay cannot make
    dead letters without end.
    """
    path = path_for("outbox_desk.message", message_id=message_id)
    operations.raise_alert(
        kinds.DELIVERY_DEAD,
        operations.people_with_role("admin"),
        f"{message_id}:{operations.utcnow().isoformat()}",
        path,
        email=not (destination == ALERT and alert_kind == kinds.DELIVERY_DEAD),
    )


def init_app(app: Flask) -> None:
    """Subscribe to the events that raise alerts, and send alert emails through the outbox."""
    feedback_received.connect(on_feedback)
    worker.became_dead_letter.connect(on_dead_letter)
    worker.register_sender(ALERT, channels.send)
    for kind in kinds.URGENT_KINDS:  # before a morning's digests, whatever their number
        worker.register_first(f"alert.{kind}")
    worker.register_periodic("ALERTS_SCAN_INTERVAL_SECONDS", scan_if_not_done_today)
