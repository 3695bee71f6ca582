"""Desk pages for admins: deliveries to the core case system, and retrying a dead letter.

What GET ``/admin/outbox`` returns, on a page: each message's state, attempts, last error and
next attempt, never its payload (which holds children's records); the backlog figures beside it;
and "Retry" for a dead letter through :func:`outbox.retry`, as POST
``/admin/outbox/{id}/retry`` does.
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for

from service.columns import whole_number
from service.core_system import outbox
from service.core_system.models import MESSAGE_STATUSES, OutboxMessage
from service.errors import Conflict, NotFound
from service.extensions import db
from service.pages import PageBlueprint, render

blp = PageBlueprint("outbox_desk", __name__)

PER_PAGE = 50
MAX_ID = 9_223_372_036_854_775_807
STATUS_LABELS = {"pending": "Waiting", "delivered": "Delivered", "dead": "Dead letter"}


def age(seconds: float | None) -> str:
    """How long, in words a person reads at a glance: ``2 days 3 hours``, ``5 minutes``."""
    if seconds is None:
        return "None waiting"
    minutes = int(seconds // 60)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    parts = [(days, "day"), (hours, "hour")] if days else [(hours, "hour"), (minutes, "minute")]
    words = [f"{count} {unit}{'' if count == 1 else 's'}" for count, unit in parts if count]
    return " ".join(words) or "Less than a minute"


def _before() -> int | None:
    raw = request.args.get("before", "")
    return whole_number(raw, MAX_ID) or None


@blp.get("/admin/outbox")
@blp.in_navigation("Deliveries", "admin")
@blp.signin_required("admin")
def messages() -> Any:
    """Messages for the core system, newest first, filtered by state; the backlog above them."""
    state = request.args.get("status", "")
    state = state if state in MESSAGE_STATUSES else ""
    query = outbox.message_query({"status": state or None})
    before = _before()
    if before is not None:
        query = query.where(OutboxMessage.id < before)
    rows = list(db.session.scalars(query.limit(PER_PAGE + 1)))
    return render(
        "desk/admin/outbox.html",
        rows=rows[:PER_PAGE],
        older=rows[PER_PAGE - 1].id if len(rows) > PER_PAGE else None,
        newest=before is None,
        state=state,
        labels=STATUS_LABELS,
        backlog=outbox.backlog(delivered=True),
        age=age,
    )


def _message(message_id: int) -> OutboxMessage:
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound("outbox.not_found", "No such message.")
    return message


@blp.get(f"/admin/outbox/<int(min=1, max={MAX_ID}):message_id>")
@blp.signin_required("admin")
def message(message_id: int) -> Any:
    """One message: its state, attempts, last error and next attempt (never its payload)."""
    return render("desk/admin/message.html", message=_message(message_id), labels=STATUS_LABELS)


@blp.post(f"/admin/outbox/<int(min=1, max={MAX_ID}):message_id>/retry")
@blp.signin_required("admin")
def retry(message_id: int) -> Any:
    """Queue a dead letter again, to be tried at once (audited by the operation)."""
    try:
        outbox.retry(g.user, message_id)
    except Conflict as refused:
        return render(
            "desk/admin/message.html",
            status=409,
            message=_message(message_id),
            labels=STATUS_LABELS,
            problem=refused.detail,
            errors={"retry": refused.detail},
        )
    flash(f"Message {message_id} is queued again and will be sent at once.", "success")
    return redirect(url_for("outbox_desk.message", message_id=message_id))
