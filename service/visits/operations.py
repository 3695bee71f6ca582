"""Recording visits: create or update a draft, submit, amend, delete, and read the history.

Functions take the acting user explicitly and only ``flush()``; the request boundary commits.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from api_schemas.visits import VisitOutSchema
from service.auth.models import User
from service.cases.models import Case
from service.columns import utcnow
from service.errors import (
    Conflict,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ValidationFailed,
)
from service.extensions import db
from service.policy import can_edit_visit, can_read_visit, can_record_visit, case_scope
from service.visits.models import Visit, VisitChild, VisitVersion
from service.visits.rules import draft_errors

EDITABLE = ("draft", "returned")
SNAPSHOT = VisitOutSchema()
VOICE_COLUMNS = {
    "own_words": "own_words",
    "wishes_and_feelings": "wishes_and_feelings",
    "good_things": "good_things",
    "worries": "worries",
    "dreams": "dreams",
    "method": "voice_method",
    "consent_to_share": "consent_to_share",
    "not_gathered_reason": "views_not_gathered_reason",
}
CHILD_COLUMNS = (
    "seen",
    "seen_alone",
    "not_seen_reason",
    "not_seen_detail",
    "not_seen_alone_reason",
    "not_seen_alone_detail",
    "bedroom_seen",
)
VISIT_COLUMNS = (
    "visit_type",
    "announced",
    "started_at",
    "ended_at",
    "location",
    "people_present",
    "observations",
    "analysis",
    "next_actions",
)


def etag(visit: Visit) -> str:
    """The visit's entity tag: its version number, quoted."""
    return f'"{visit.version}"'


def _matches(if_match: str, visit: Visit) -> bool:
    tags = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    return "*" in tags or etag(visit) in tags


def check_precondition(visit: Visit, if_match: str | None, *, required: bool) -> None:
    """Check ``If-Match`` against the visit's ETag: 428 if required and missing, 412 if stale."""
    if if_match is None:
        if required:
            raise PreconditionRequired(
                "visit.if_match_required", "Send If-Match with the visit's ETag to change it."
            )
        return
    if not _matches(if_match, visit):
        raise PreconditionFailed(
            "visit.version_conflict",
            f"The visit has changed since you read it (now version {visit.version}).",
        )


def content_digest(body: dict[str, Any]) -> str:
    """A digest of a PUT body, so an exact replay can be recognised."""

    def default(value: Any) -> str:
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat()
        return str(value)

    canonical = json.dumps(body, sort_keys=True, default=default, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def get_visit(user: User, visit_id: uuid.UUID) -> Visit:
    """The visit, if ``user`` may see it; otherwise 404 exactly as if it did not exist."""
    visit = db.session.get(Visit, visit_id)
    if visit is None or not can_read_visit(user, visit):
        raise NotFound("visit.not_found", "No such visit.")
    return visit


def get_own_visit(user: User, visit_id: uuid.UUID) -> Visit:
    """The visit, if ``user`` may change it; otherwise 404."""
    visit = get_visit(user, visit_id)
    if not can_edit_visit(user, visit):
        raise NotFound("visit.not_found", "No such visit among yours.")
    return visit


def visit_query(user: User, filters: dict[str, Any]) -> Select[Any]:
    """The visits ``user`` may see, newest first, filtered."""
    query = select(Visit).join(Case, Case.id == Visit.case_id).where(case_scope(user))
    for name in ("case_id", "status", "worker_id"):
        if filters.get(name):
            query = query.where(getattr(Visit, name) == filters[name])
    if filters.get("child_id"):
        query = query.where(
            select(VisitChild.id)
            .where(VisitChild.visit_id == Visit.id, VisitChild.child_id == filters["child_id"])
            .exists()
        )
    if filters.get("started_from"):
        query = query.where(Visit.started_at >= filters["started_from"])
    if filters.get("started_to"):
        query = query.where(Visit.started_at < filters["started_to"])
    return query.order_by(Visit.started_at.desc(), Visit.id)


def _apply(visit: Visit, body: dict[str, Any]) -> None:
    for name in VISIT_COLUMNS:
        setattr(visit, name, body.get(name))
    visit.people_present = list(body.get("people_present") or [])
    existing = {row.child_id: row for row in visit.children}
    rows = []
    for position, entry in enumerate(body["children"]):
        row = existing.get(entry["child_id"]) or VisitChild(child_id=entry["child_id"])
        row.position = position
        for name in CHILD_COLUMNS:
            setattr(row, name, entry.get(name))
        voice = entry.get("voice") or {}
        for field_name, column in VOICE_COLUMNS.items():
            setattr(row, column, voice.get(field_name))
        scale = voice.get("scale") or {}
        row.scale_score = scale.get("score")
        row.scale_question = scale.get("question")
        row.scale_scored_by = scale.get("scored_by")
        rows.append(row)
    visit.children = rows


def _recordable_case(user: User, case_id: uuid.UUID, started_at: datetime) -> Case:
    case = db.session.get(Case, case_id, options=[joinedload(Case.children)])
    if case is None or not can_record_visit(user, case, started_at):
        raise ValidationFailed(
            "visit.invalid",
            "The visit is not valid; see errors.",
            errors={"case_id": ["No such case in your caseload."]},
        )
    if case.status != "open":
        raise ValidationFailed(
            "visit.invalid", "The case is closed.", errors={"case_id": ["The case is closed."]}
        )
    return case


def raise_if_invalid(errors: dict[str, list[str]], code: str = "visit.invalid") -> None:
    """Raise a 422 listing ``errors`` by field path, if there are any."""
    if errors:
        raise ValidationFailed(code, "The visit is not valid; see errors.", errors=errors)


def put_visit(
    user: User, visit_id: uuid.UUID, body: dict[str, Any], if_match: str | None
) -> tuple[Visit, bool]:
    """Create a visit (``True``) or update a draft (``False``); replaying a create is harmless."""
    digest = content_digest(body)
    visit = db.session.get(Visit, visit_id)
    if visit is None:
        if if_match is not None:
            raise PreconditionFailed("visit.version_conflict", "There is no such visit to update.")
        return create_visit(user, visit_id, body, digest)
    if visit.worker_id != user.id:
        raise Conflict("visit.id_in_use", "This visit id is already used by another record.")
    if if_match is None and visit.content_digest == digest:
        return visit, False
    check_precondition(visit, if_match, required=True)
    if visit.status not in EDITABLE:
        raise Conflict("visit.not_editable", f"A {visit.status} visit cannot be changed.")
    if not can_edit_visit(user, visit):
        raise NotFound("visit.not_found", "No such visit among yours.")
    if visit.content_digest == digest:
        return visit, False
    if body["case_id"] != visit.case_id:
        raise_if_invalid({"case_id": ["A visit cannot move to another case."]})
    raise_if_invalid(draft_errors(visit.case, body, utcnow()))
    _apply(visit, body)
    visit.content_digest = digest
    visit.version += 1
    visit.updated_at = utcnow()
    db.session.flush()
    return visit, False


def create_visit(
    user: User, visit_id: uuid.UUID, body: dict[str, Any], digest: str | None = None
) -> tuple[Visit, bool]:
    """Create a visit whose id is known to be new; a concurrent duplicate is treated as a replay.

    Inside a caller's savepoint (a sync item) the caller handles a duplicate id instead.
    """
    digest = digest or content_digest(body)
    case = _recordable_case(user, body["case_id"], body["started_at"])
    raise_if_invalid(draft_errors(case, body, utcnow()))
    visit = Visit(
        id=visit_id, case=case, team_id=case.team_id, worker=user, content_digest=digest, version=1
    )
    _apply(visit, body)
    db.session.add(visit)
    if db.session().in_nested_transaction():
        db.session.flush()
        return visit, True
    try:
        db.session.flush()
    except IntegrityError:
        # The same id arrived twice at once and the other request won. Nothing else has been
        # written in this request yet, so the whole transaction can go; answer as a replay would.
        db.session.rollback()
        existing = db.session.get(Visit, visit_id)
        if (
            existing is not None
            and existing.worker_id == user.id
            and existing.content_digest == digest
        ):
            return existing, False
        raise Conflict(
            "visit.id_in_use", "This visit id is already used by another record."
        ) from None
    return visit, True


def amend_visit(user: User, visit_id: uuid.UUID, reason: str, if_match: str | None) -> Visit:
    """Reopen an approved visit for correction; it must be submitted and reviewed again."""
    visit = get_own_visit(user, visit_id)
    check_precondition(visit, if_match, required=False)
    if visit.status != "approved":
        raise Conflict("visit.not_amendable", "Only an approved visit can be amended.")
    visit.status = "draft"
    visit.amendment_reason = reason
    visit.version += 1
    visit.updated_at = utcnow()
    db.session.flush()
    return visit


def delete_visit(user: User, visit_id: uuid.UUID, if_match: str | None) -> None:
    """Delete a draft that was never submitted; anything once submitted is kept for ever."""
    visit = get_own_visit(user, visit_id)
    check_precondition(visit, if_match, required=False)
    if visit.submitted_at is not None or visit.status != "draft":
        raise Conflict(
            "visit.not_deletable", "Only a draft that was never submitted can be deleted."
        )
    from service.evidence.operations import remove_visit_evidence

    remove_visit_evidence(visit)
    db.session.delete(visit)
    db.session.flush()


def list_versions(user: User, visit_id: uuid.UUID) -> list[VisitVersion]:
    """Every submission of the visit, oldest first."""
    visit = get_visit(user, visit_id)
    return list(
        db.session.scalars(
            select(VisitVersion)
            .where(VisitVersion.visit_id == visit.id)
            .order_by(VisitVersion.number)
        )
    )


def get_version(user: User, visit_id: uuid.UUID, number: int) -> VisitVersion:
    """One submission of the visit, exactly as submitted."""
    visit = get_visit(user, visit_id)
    version = db.session.scalar(
        select(VisitVersion).where(VisitVersion.visit_id == visit.id, VisitVersion.number == number)
    )
    if version is None:
        raise NotFound("visit.version_not_found", "No such version of this visit.")
    return version
