"""The review queue and decisions. A decision is recorded once and never changed."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, exists, select

from service.auth.models import User
from service.cases.models import Child
from service.cases.operations import today
from service.columns import UNSTORABLE_MESSAGE, is_storable, utcnow
from service.errors import Forbidden, ValidationFailed
from service.extensions import db
from service.policy import case_scope
from service.reviews.models import Review
from service.visits import lifecycle
from service.visits.lifecycle import Action, Status
from service.visits.models import RecordedChild, Visit, VisitVersion
from service.visits.operations import get_visit

DECISION_ACTIONS = {"approve": Action.APPROVE, "return": Action.RETURN, "escalate": Action.ESCALATE}
# A management decision says what happens next; a year out is not "next".
LONGEST_DECISION = timedelta(days=366)


def _recorded(*conditions: Any) -> Any:
    """Some child, as the visit's latest submitted version records them, meets ``conditions``."""
    return exists().where(RecordedChild.visit_id == Visit.id, *conditions)


FLAG_CONDITIONS: dict[str, Any] = {
    "not_seen": _recorded(RecordedChild.seen.is_(False)),
    "not_seen_alone": _recorded(RecordedChild.seen.is_(True), RecordedChild.seen_alone.is_(False)),
    "no_views": _recorded(RecordedChild.seen.is_(True), RecordedChild.has_views.is_(False)),
    "late": Visit.recorded_late.is_(True),
    "amendment": Visit.amendment_reason.is_not(None),
    "escalated": Visit.escalated_at.is_not(None),
}


def queue_query(user: User, filters: dict[str, Any]) -> Select[Any]:
    """Submitted visits in ``user``'s scope, oldest submission first."""
    query = select(Visit).where(Visit.status == Status.SUBMITTED, case_scope(user))
    query = query.join(Visit.case)
    if filters.get("worker_id"):
        query = query.where(Visit.worker_id == filters["worker_id"])
    if filters.get("flag"):
        query = query.where(FLAG_CONDITIONS[filters["flag"]])
    if filters.get("older_than_days") is not None:
        cutoff = utcnow() - timedelta(days=filters["older_than_days"])
        query = query.where(Visit.last_submitted_at <= cutoff)
    return query.order_by(Visit.last_submitted_at, Visit.id)


def annotate(visits: list[Visit]) -> list[Visit]:
    """Give each queued visit its flags and waiting time (one query per flag for the page)."""
    ids = [visit.id for visit in visits]
    flagged: dict[uuid.UUID, list[str]] = {visit_id: [] for visit_id in ids}
    for flag, condition in FLAG_CONDITIONS.items():
        for visit_id in db.session.scalars(select(Visit.id).where(Visit.id.in_(ids), condition)):
            flagged[visit_id].append(flag)
    now = utcnow()
    for visit in visits:
        visit.flags = flagged[visit.id]  # type: ignore[attr-defined]
        waited = now - (visit.last_submitted_at or now)
        visit.waiting_days = waited.days  # type: ignore[attr-defined]
    return visits


def needs_management_decision(visit: Visit) -> bool:
    """As submitted: a child not seen, or a child on a protection plan not seen alone."""
    recorded = db.session.execute(
        select(RecordedChild.seen, RecordedChild.seen_alone, Child.plan_type)
        .join(Child, Child.id == RecordedChild.child_id)
        .where(RecordedChild.visit_id == visit.id)
    )
    return any(
        not seen or (not alone and plan_type == "child_protection")
        for seen, alone, plan_type in recorded
    )


def reviewer_refusal(user: User, visit: Visit) -> Forbidden | None:
    """Why ``user`` may not decide on ``visit`` (their own, or escalated past them), or None."""
    if visit.worker_id == user.id:
        return Forbidden("review.own_visit", "You cannot review a visit you recorded.")
    if visit.escalated_at is None:
        return None
    escalated_by = db.session.scalar(
        select(Review.reviewer_id)
        .where(Review.visit_id == visit.id, Review.decision == "escalate")
        .order_by(Review.decided_at.desc(), Review.id)
        .limit(1)
    )
    if user.role != "manager" or user.id == escalated_by:
        return Forbidden(
            "review.escalated",
            "This visit was escalated: a manager other than the one who escalated it decides.",
        )
    return None


def _check_storable(body: dict[str, Any]) -> None:
    """The comment and the management action hold nothing a database cannot store (the API's
    schema refuses them too; a page's form comes here unchecked).
    """
    management = body.get("management_decision") or {}
    for name, value in (
        ("comment", body.get("comment")),
        ("management_decision.action", management.get("action")),
    ):
        if value is not None and not is_storable(value):
            raise ValidationFailed(
                "review.invalid", UNSTORABLE_MESSAGE, errors={name: [UNSTORABLE_MESSAGE]}
            )


def _check_comment(body: dict[str, Any]) -> None:
    if body["decision"] == "return" and not (body.get("comment") or "").strip():
        raise ValidationFailed(
            "review.comment_required",
            "Say what needs to change when returning a visit.",
            errors={"comment": ["Say what needs to change when returning a visit."]},
        )


def _check_management_decision(visit: Visit, management: dict[str, Any] | None) -> None:
    if needs_management_decision(visit) and not management:
        raise ValidationFailed(
            "review.management_decision_required",
            "A child was not seen, or not seen alone on a protection plan: say what happens next.",
            errors={"management_decision": ["Required when a child was not seen."]},
        )
    if management is None:
        return
    due_by, now = management["due_by"], today()
    if due_by < now:
        raise ValidationFailed(
            "review.invalid",
            "The management decision is due in the past.",
            errors={"management_decision.due_by": ["Must be today or later."]},
        )
    if due_by > now + LONGEST_DECISION:
        raise ValidationFailed(
            "review.invalid",
            "The management decision is due more than a year ahead.",
            errors={"management_decision.due_by": ["Must be within a year."]},
        )


def review_visit(
    user: User, visit_id: uuid.UUID, body: dict[str, Any], if_match: str | None
) -> tuple[Review, Visit]:
    """Record a decision on the visit's latest submission and move the visit on.

    ``If-Match`` must name the visit's current version with a strong ETag: a decision is never
    made on a version the supervisor has not seen. A return needs a comment saying what to
    change. Of two decisions made from one version, one
    is kept and the other gets 412.
    """
    visit = get_visit(user, visit_id, wanted="review")
    refusal = reviewer_refusal(user, visit)
    if refusal is not None:
        raise refusal
    expected = lifecycle.expected_version(visit, if_match, required=True)
    if visit.status != Status.SUBMITTED:
        raise lifecycle.refusal(visit, Action.APPROVE)
    _check_storable(body)
    _check_comment(body)
    management = body.get("management_decision")
    _check_management_decision(visit, management)
    action = DECISION_ACTIONS[body["decision"]]
    with lifecycle.transition(user, visit, action, expected=expected) as event:
        number = db.session.scalar(
            select(VisitVersion.number)
            .where(VisitVersion.visit_id == visit.id)
            .order_by(VisitVersion.number.desc())
            .limit(1)
        )
        review = Review(
            visit_id=visit.id,
            version_number=int(number or 0),
            reviewer=user,
            decision=body["decision"],
            comment=body.get("comment"),
            management_action=management["action"] if management else None,
            management_due_by=management["due_by"] if management else None,
        )
        db.session.add(review)
        db.session.flush()
        event.details["review"] = str(review.id)
    return review, visit


def reviews_of(user: User, visit_id: uuid.UUID) -> list[Review]:
    """Every decision on the visit, oldest first."""
    visit = get_visit(user, visit_id)
    return list(
        db.session.scalars(
            select(Review).where(Review.visit_id == visit.id).order_by(Review.decided_at, Review.id)
        )
    )


def latest_return_comments(visit_ids: list[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    """The comment of the latest 'return' decision for each visit (for the worker's tablet)."""
    if not visit_ids:
        return {}
    rows = db.session.execute(
        select(Review.visit_id, Review.comment)
        .where(Review.visit_id.in_(visit_ids), Review.decision == "return")
        .order_by(Review.decided_at)
    )
    return {visit_id: comment for visit_id, comment in rows}
