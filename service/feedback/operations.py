"""Saving feedback, personal invite links, triage, and the summary with small numbers hidden."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from blinker import Namespace
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Select, select

from service.auth.models import User
from service.cases.operations import get_child
from service.columns import utcnow
from service.errors import NotFound, ValidationFailed
from service.extensions import db
from service.feedback.models import (
    CHOICES,
    SCALES,
    Feedback,
    FeedbackInvite,
    FeedbackTriageNote,
)

SMALLEST_GROUP = 5
# Sent with each response saved, in its transaction (the alerts feature tells the duty contacts
# of an urgent one at once).
feedback_received = Namespace().signal("feedback-received")


class InviteProblem(Exception):
    """An invite link that cannot be used: ``reason`` is invalid, expired or used."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="feedback-invite")


def create_invite(
    user: User, child_id: uuid.UUID, valid_days: int, period_days: int
) -> tuple[FeedbackInvite, str]:
    """A signed link for a care leaver in ``user``'s scope; returns the invite and its token."""
    child = get_child(user, child_id)
    if child.plan_type != "care_leaver":
        raise ValidationFailed(
            "feedback.not_a_care_leaver",
            "Invites are for care leavers only.",
            errors={"child_id": ["This young person is not on a care leaver plan."]},
        )
    invite = FeedbackInvite(
        child_id=child.id,
        created_by_id=user.id,
        expires_at=utcnow() + timedelta(days=valid_days),
        period_days=period_days,
    )
    db.session.add(invite)
    db.session.flush()
    return invite, _signer().dumps({"invite": str(invite.id)})


def open_invite(token: str) -> FeedbackInvite:
    """The invite a token names, if it is genuine, unexpired and not used this period."""
    try:
        payload = _signer().loads(token)
        invite = db.session.get(FeedbackInvite, uuid.UUID(str(payload["invite"])))
    except (BadSignature, KeyError, TypeError, ValueError):
        raise InviteProblem("invalid") from None
    if invite is None:
        raise InviteProblem("invalid")
    now = utcnow()
    if invite.expires_at <= now:
        raise InviteProblem("expired")
    used = db.session.scalar(
        select(Feedback.id).where(
            Feedback.invite_id == invite.id,
            Feedback.submitted_at > now - timedelta(days=invite.period_days),
        )
    )
    if used is not None:
        raise InviteProblem("used")
    return invite


def save_feedback(
    answers: dict[str, Any], language: str, invite: FeedbackInvite | None
) -> Feedback:
    """Store one response (linked to the care leaver's record when it came through an invite)."""
    feedback = Feedback(
        language=language,
        invite_id=invite.id if invite else None,
        child_id=invite.child_id if invite else None,
        **answers,
    )
    db.session.add(feedback)
    db.session.flush()
    feedback_received.send(feedback)
    return feedback


def feedback_query(filters: dict[str, Any]) -> Select[Any]:
    """Feedback for triage: urgent first, then newest."""
    query = select(Feedback)
    if filters.get("status"):
        query = query.where(Feedback.triage_status == filters["status"])
    if filters.get("urgent") is not None:
        query = query.where(Feedback.urgent.is_(filters["urgent"]))
    if filters.get("since"):
        query = query.where(Feedback.submitted_at >= filters["since"])
    return query.order_by(Feedback.urgent.desc(), Feedback.submitted_at.desc(), Feedback.id)


def get_feedback(feedback_id: uuid.UUID) -> Feedback:
    """One response, for a manager (the only role the feedback views allow)."""
    feedback = db.session.get(Feedback, feedback_id)
    if feedback is None:
        raise NotFound("feedback.not_found", "No such feedback.")
    return feedback


def triage(user: User, feedback_id: uuid.UUID, status: str, note: str | None) -> Feedback:
    """Record where a response is in triage, and who moved it; the step joins its history."""
    feedback = get_feedback(feedback_id)
    moment = utcnow()
    feedback.triage_status = status
    if note is not None:
        feedback.triage_note = note
    feedback.triaged_by_id = user.id
    feedback.triaged_at = moment
    db.session.add(
        FeedbackTriageNote(
            feedback_id=feedback.id, status=status, note=note, by_id=user.id, at=moment
        )
    )
    db.session.flush()
    return feedback


def triage_history(feedback_id: uuid.UUID) -> list[tuple[FeedbackTriageNote, str]]:
    """Every triage step of a response, oldest first, with the name of who took it."""
    rows = db.session.execute(
        select(FeedbackTriageNote, User.display_name)
        .join(User, User.id == FeedbackTriageNote.by_id)
        .where(FeedbackTriageNote.feedback_id == feedback_id)
        .order_by(FeedbackTriageNote.at, FeedbackTriageNote.id)
    )
    return [(step, name) for step, name in rows]


def summary(months: int) -> list[dict[str, Any]]:
    """Averages and distributions by month; a month, or an answer, with fewer than five
    responses is suppressed so no one can be picked out.
    """
    since = utcnow() - timedelta(days=31 * months)
    rows = db.session.scalars(select(Feedback).where(Feedback.submitted_at >= since))
    by_month: defaultdict[str, list[Feedback]] = defaultdict(list)
    for row in rows:
        by_month[row.submitted_at.strftime("%Y-%m")].append(row)
    return [_month(month, by_month[month]) for month in sorted(by_month, reverse=True)]


def _shown(count: int) -> int | None:
    """A count as published: zero, or five and more; 1 to 4 could point at someone."""
    return count if count == 0 or count >= SMALLEST_GROUP else None


def _month(month: str, rows: list[Feedback]) -> dict[str, Any]:
    if len(rows) < SMALLEST_GROUP:
        return {"month": month, "responses": None, "suppressed": True}
    averages = {}
    for name in SCALES:
        values = [getattr(row, name) for row in rows if getattr(row, name) is not None]
        averages[name] = (
            round(sum(values) / len(values), 1) if len(values) >= SMALLEST_GROUP else None
        )
    distributions = {}
    for name, options in CHOICES.items():
        counts = Counter(getattr(row, name) for row in rows)
        distributions[name] = {option: _shown(counts[option]) for option in options}
    return {
        "month": month,
        "responses": len(rows),
        "suppressed": False,
        "urgent": _shown(sum(row.urgent for row in rows)),
        "averages": averages,
        "distributions": distributions,
    }
