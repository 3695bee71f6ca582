"""Recording visits: create or update a draft, submit, amend, delete, and read the history.

Functions take the acting user explicitly and only ``flush()``; the request boundary commits.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, lazyload, load_only
from sqlalchemy.orm.attributes import instance_dict

from service.auth.models import User
from service.cases.models import Case, Child
from service.columns import utcnow
from service.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from service.evidence.models import Attachment
from service.extensions import db
from service.policy import (
    can_edit_visit,
    can_read_visit,
    can_record_visit,
    case_scope,
    refused,
    visit_subjects,
)
from service.visits import lifecycle
from service.visits.lifecycle import Action
from service.visits.models import Visit, VisitChild, VisitVersion
from service.visits.record import CHILD_FIELDS, VOICE_COLUMNS, snapshot
from service.visits.rules import draft_errors

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


def content_digest(body: dict[str, Any]) -> str:
    """A digest of a PUT body, so an exact replay can be recognised."""

    def default(value: Any) -> str:
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat()
        return str(value)

    canonical = json.dumps(body, sort_keys=True, default=default, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def get_visit(user: User, visit_id: uuid.UUID, wanted: str = "read") -> Visit:
    """The visit, if ``user`` may see it; otherwise 404 exactly as if it did not exist.

    ``wanted`` names what the caller was after (``read``, ``change``, ``review``) for the record
    of a refusal.
    """
    visit = db.session.get(Visit, visit_id)
    if visit is None:
        raise NotFound("visit.not_found", "No such visit.")
    if not can_read_visit(user, visit):
        refused(user, visit_subjects(visit), wanted=wanted)
        raise NotFound("visit.not_found", "No such visit.")
    return visit


def get_own_visit(user: User, visit_id: uuid.UUID) -> Visit:
    """The visit, if ``user`` may change it; otherwise 404."""
    visit = get_visit(user, visit_id, wanted="change")
    if not can_edit_visit(user, visit):
        refused(user, visit_subjects(visit), wanted="change")
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


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The names (never the content) of what an edit changed: ``observations``,
    ``children.own_words``, ``children`` when a child joined or left the visit.
    """
    changed = {name for name in before.keys() | after.keys() if name != "children"}
    changed = {name for name in changed if before.get(name) != after.get(name)}
    old = {entry["child_id"]: entry for entry in before.get("children", [])}
    new = {entry["child_id"]: entry for entry in after.get("children", [])}
    if old.keys() != new.keys():
        changed.add("children")
    for child_id in old.keys() & new.keys():
        for name in old[child_id].keys() | new[child_id].keys():
            if old[child_id].get(name) != new[child_id].get(name):
                changed.add(f"children.{name}")
    return sorted(changed)


def _visit_values(body: dict[str, Any]) -> dict[str, Any]:
    """The visit's own columns as the body gives them."""
    values = {name: body.get(name) for name in VISIT_COLUMNS}
    values["people_present"] = list(body.get("people_present") or [])
    return values


def _child_values(position: int, entry: dict[str, Any]) -> dict[str, Any]:
    """One child's columns as the body's entry at ``position`` gives them."""
    values = {name: entry.get(name) for name in CHILD_FIELDS}
    values["position"] = position
    voice = entry.get("voice") or {}
    for field_name, column in VOICE_COLUMNS.items():
        values[column] = voice.get(field_name)
    scale = voice.get("scale") or {}
    values["scale_score"] = scale.get("score")
    values["scale_question"] = scale.get("question")
    values["scale_scored_by"] = scale.get("scored_by")
    return values


def _apply(visit: Visit, body: dict[str, Any]) -> None:
    """Change ``visit`` (in the session) to what ``body`` says, child rows kept by child."""
    for name, value in _visit_values(body).items():
        setattr(visit, name, value)
    existing = {row.child_id: row for row in visit.children}
    rows = []
    for position, entry in enumerate(body["children"]):
        row = existing.get(entry["child_id"]) or VisitChild(child_id=entry["child_id"])
        for name, value in _child_values(position, entry).items():
            setattr(row, name, value)
        rows.append(row)
    visit.children = rows


def _fill_new(visit: Visit, body: dict[str, Any]) -> None:
    """Give a new visit, not yet in the session, what ``body`` says.

    The column values go straight into the objects' state: a transient object has no history
    to keep, and its insert (``service.visits.new_rows``, or the unit of work in a savepoint)
    reads the state as it is. Setting them one attribute at a time through the ORM's
    instrumentation was about a twentieth of a create's CPU. The children join the visit
    through the relationship as ever, so the ORM links and cascades them. Each row holds its
    child too, from the case's children already loaded (the body's children are all on the
    case, checked before), as a load of the row would: the response's ``child_name`` then reads
    it without a lazy load through the session's identity map for each child.
    """
    instance_dict(visit).update(_visit_values(body))
    on_case = {child.id: child for child in visit.case.children}
    rows = []
    for position, entry in enumerate(body["children"]):
        row = VisitChild()
        instance_dict(row).update(
            _child_values(position, entry),
            child_id=entry["child_id"],
            child=on_case[entry["child_id"]],
        )
        rows.append(row)
    visit.children = rows


# The children (to check the body's against), not the team or the allocated worker: a create
# needs their ids only, which are columns of the case. Only the columns a create reads: the
# case's scope and status, and each child's id, birth date (draft_errors) and name (the
# response); the rest (core references, dates, retention, sync stamps) were half of the
# statement's columns, each described, converted and set on every create. Any other column
# is still there if something asks for it (loaded then, by its own SELECT). Built once.
_RECORDABLE_CASE_LOAD = (
    load_only(Case.status, Case.team_id, Case.allocated_worker_id, Case.purging_since),
    joinedload(Case.children).load_only(Child.name, Child.date_of_birth),
    lazyload(Case.team),
    lazyload(Case.allocated_worker),
)
# What ``session.get`` runs for a case not yet in the session, built once: ``get`` builds the
# statement anew each time, and SQLAlchemy then works out its cache key anew (options and all),
# about 2% of a create's CPU.
_RECORDABLE_CASE = select(Case).options(*_RECORDABLE_CASE_LOAD).where(Case.id == bindparam("id"))


def _recordable_case(user: User, case_id: uuid.UUID, started_at: datetime) -> Case:
    session = db.session()
    case: Case | None
    if Case.__mapper__.identity_key_from_primary_key((case_id,)) in session.identity_map:
        case = session.get(Case, case_id, options=_RECORDABLE_CASE_LOAD)  # no SQL, or a refresh
    else:
        case = session.execute(_RECORDABLE_CASE, {"id": case_id}).unique().scalar_one_or_none()
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
    """Create a visit (``True``) or update a draft (``False``); replaying either is harmless.

    An update needs ``If-Match`` naming the current version; of several updates made from the
    same version exactly one is kept and the others get 412. The same body sent again (a retry
    after a dropped connection, or a duplicate sent at the same moment) changes nothing.
    """
    digest = content_digest(body)
    if if_match is None and not db.session().in_nested_transaction():
        # Without If-Match a PUT is nearly always a create: insert first, and read the visit
        # only if its id turns out to be taken (a replay, or someone else's record). This
        # saves a read of a visit that is not there on every create.
        created = _create_unless_taken(user, visit_id, body, digest)
        if created is not None:
            return created, True
    visit = db.session.get(Visit, visit_id)
    if visit is None:
        if if_match is not None:
            raise PreconditionFailed("visit.version_conflict", "There is no such visit to update.")
        return create_visit(user, visit_id, body, digest)
    if not can_read_visit(user, visit):
        # Out of scope: 404 and recorded, as for any other record not theirs (a 409 would say
        # that the id exists).
        refused(user, visit_subjects(visit), wanted="change")
        raise NotFound("visit.not_found", "No such visit among yours.")
    if visit.worker_id != user.id:
        raise Conflict("visit.id_in_use", "This visit id is already used by another record.")
    if not can_edit_visit(user, visit):
        raise NotFound("visit.not_found", "No such visit among yours.")
    if visit.content_digest == digest:
        return visit, False
    expected = lifecycle.expected_version(visit, if_match, required=True)
    if visit.status not in lifecycle.EDITABLE:
        raise lifecycle.refusal(visit, Action.EDIT)
    if body["case_id"] != visit.case_id:
        raise_if_invalid({"case_id": ["A visit cannot move to another case."]})
    raise_if_invalid(draft_errors(visit.case, body, utcnow()))
    with lifecycle.transition(user, visit, Action.EDIT, expected=expected) as event:
        before = snapshot(visit, ())
        _apply(visit, body)
        event.details["changed_fields"] = changed_fields(before, snapshot(visit, ()))
        visit.content_digest = digest
        db.session.flush()
    return visit, False


def _create_unless_taken(
    user: User, visit_id: uuid.UUID, body: dict[str, Any], digest: str
) -> Visit | None:
    """Create the visit; None, with nothing written, if the id is already a visit's.

    A body refused for a visit that exists is answered as for that visit (a replay stays a
    replay after its case closed); for an id that is free the refusal stands.
    """
    try:
        case = _recordable_case(user, body["case_id"], body["started_at"])
        raise_if_invalid(draft_errors(case, body, utcnow()))
    except ValidationFailed:
        if db.session.get(Visit, visit_id) is not None:
            return None
        raise
    visit = Visit(id=visit_id, case=case, team_id=case.team_id, worker=user, content_digest=digest)
    _fill_new(visit, body)
    try:
        lifecycle.start(user, visit)
    except IntegrityError:
        # The id is taken, by a record made earlier or at this moment. Nothing else has been
        # written in this request yet, so the whole transaction can go.
        db.session.rollback()
        return None
    return visit


def create_visit(
    user: User, visit_id: uuid.UUID, body: dict[str, Any], digest: str | None = None
) -> tuple[Visit, bool]:
    """Create a visit whose id is known to be new; a concurrent duplicate is treated as a replay.

    Inside a caller's savepoint (a sync item) the caller handles a duplicate id instead.
    """
    digest = digest or content_digest(body)
    case = _recordable_case(user, body["case_id"], body["started_at"])
    raise_if_invalid(draft_errors(case, body, utcnow()))
    visit = Visit(id=visit_id, case=case, team_id=case.team_id, worker=user, content_digest=digest)
    _fill_new(visit, body)
    if db.session().in_nested_transaction():
        lifecycle.start(user, visit)
        return visit, True
    try:
        lifecycle.start(user, visit)
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
    """Reopen an approved visit for correction; it must be submitted and reviewed again.

    The approved version stays the record until a new one is submitted.
    """
    visit = get_own_visit(user, visit_id)
    expected = lifecycle.expected_version(visit, if_match, required=False)
    with lifecycle.transition(user, visit, Action.AMEND, expected=expected):
        visit.amendment_reason = reason
    return visit


def delete_visit(user: User, visit_id: uuid.UUID, if_match: str | None) -> None:
    """Delete a draft that was never submitted; anything once submitted is kept for ever.

    Subscribers to the deletion (the evidence it held) act before the row goes.
    """
    visit = get_own_visit(user, visit_id)
    lifecycle.expected_version(visit, if_match, required=False)
    if visit.submitted_at is not None:
        raise lifecycle.refusal(visit, Action.DELETE)
    with lifecycle.transition(user, visit, Action.DELETE, expected=None):
        pass
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
    version.evidence = version_evidence(version)  # type: ignore[attr-defined]
    return version


def version_evidence(version: VisitVersion) -> list[dict[str, Any]]:
    """The evidence a version held, each marked if it was later withdrawn or erased."""
    held = version.snapshot.get("evidence") or []
    rows = {
        str(row.id): row
        for row in db.session.scalars(
            select(Attachment).where(Attachment.id.in_([uuid.UUID(item["id"]) for item in held]))
        )
    }
    rendered = []
    for item in held:
        row = rows.get(item["id"])
        rendered.append(
            {
                **item,
                "withdrawn_at": row.withdrawn_at if row else None,
                "erased_at": row.erased_at if row else None,
                "erased_reason": row.erased_reason if row else None,
            }
        )
    return rendered
