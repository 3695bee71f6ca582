"""The review queue and decisions. A decision is recorded once and never changed."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, exists, select

from service.auth.models import User
from service.cases.operations import today
from service.columns import utcnow
from service.errors import Conflict, Forbidden, ValidationFailed
from service.evidence.models import Attachment
from service.extensions import db
from service.policy import case_scope
from service.reviews.models import Review
from service.visits.models import Visit, VisitChild, VisitVersion
from service.visits.operations import check_precondition, get_visit

NEXT_STATUS = {"approve": "approved", "return": "returned", "escalate": "submitted"}


def _child_exists(*conditions: Any) -> Any:
    return exists().where(VisitChild.visit_id == Visit.id, *conditions)


NO_VIEWS = _child_exists(
    VisitChild.seen.is_(True),
    VisitChild.own_words.is_(None),
    VisitChild.wishes_and_feelings.is_(None),
    VisitChild.good_things.is_(None),
    VisitChild.worries.is_(None),
    VisitChild.dreams.is_(None),
    VisitChild.scale_score.is_(None),
    ~exists().where(
        Attachment.visit_id == Visit.id,
        Attachment.child_id == VisitChild.child_id,
        Attachment.kind == "drawing",
    ),
)
FLAG_CONDITIONS: dict[str, Any] = {
    "not_seen": _child_exists(VisitChild.seen.is_(False)),
    "not_seen_alone": _child_exists(VisitChild.seen.is_(True), VisitChild.seen_alone.is_(False)),
    "no_views": NO_VIEWS,
    "late": Visit.recorded_late.is_(True),
    "amendment": Visit.amendment_reason.is_not(None),
    "escalated": Visit.escalated_at.is_not(None),
}


def queue_query(user: User, filters: dict[str, Any]) -> Select[Any]:
    """Submitted visits in ``user``'s scope, oldest submission first."""
    query = select(Visit).where(Visit.status == "submitted", case_scope(user))
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
    """A child not seen, or a child on a protection plan not seen alone."""
    for row in visit.children:
        if row.seen is False:
            return True
        if row.seen and row.seen_alone is False and row.child.plan_type == "child_protection":
            return True
    return False


def review_visit(
    user: User, visit_id: uuid.UUID, body: dict[str, Any], if_match: str | None
) -> tuple[Review, Visit]:
    """Record a decision on the visit's latest submission and move the visit on."""
    visit = get_visit(user, visit_id)
    if visit.worker_id == user.id:
        raise Forbidden("review.own_visit", "You cannot review a visit you recorded.")
    check_precondition(visit, if_match, required=True)
    if visit.status != "submitted":
        raise Conflict("review.not_submitted", f"A {visit.status} visit is not awaiting review.")
    management = body.get("management_decision")
    if needs_management_decision(visit) and not management:
        raise ValidationFailed(
            "review.management_decision_required",
            "A child was not seen, or not seen alone on a protection plan: say what happens next.",
            errors={"management_decision": ["Required when a child was not seen."]},
        )
    if management and management["due_by"] < today():
        raise ValidationFailed(
            "review.invalid",
            "The management decision is due in the past.",
            errors={"management_decision.due_by": ["Must be today or later."]},
        )
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
    visit.status = NEXT_STATUS[body["decision"]]
    visit.escalated_at = utcnow() if body["decision"] == "escalate" else None
    visit.version += 1
    visit.updated_at = utcnow()
    db.session.flush()
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
