"""Visit endpoints: record, read, submit, amend, delete, and the immutable history."""

from __future__ import annotations

import uuid
from typing import Any

from flask import g, request

from api_schemas.visits import (
    AmendSchema,
    VersionSchema,
    VersionSummarySchema,
    VisitInSchema,
    VisitOutSchema,
    VisitQuerySchema,
)
from service.api import Blueprint, paginate_select
from service.audit.events import Action, Subject, about_children
from service.audit.reads import audit_exempt, audited, describe
from service.core_system.outbox import delivery_states
from service.visits import lifecycle, operations, submission
from service.visits.models import Visit, VisitVersion

blp = Blueprint("visits", __name__, description="Home visits and the voice of the child.")

READERS = ("social_worker", "supervisor", "manager")
IF_MATCH = {
    "in": "header",
    "name": "If-Match",
    "schema": {"type": "string"},
    "description": (
        "The ETag from the last read (strong; '*' is refused): required to update, optional "
        "to submit, amend or delete, where it makes sure you act on the version you saw."
    ),
}


def _if_match() -> str | None:
    return request.headers.get("If-Match")


def _with_delivery(visits: list[Visit]) -> list[Visit]:
    """Give each visit its delivery state for the response (one query for them all; none for
    visits never submitted, which cannot have been approved: saving a draft stays quick).
    """
    states = delivery_states(visit.id for visit in visits if visit.submitted_at is not None)
    for visit in visits:
        visit.delivery = states.get(visit.id)  # type: ignore[attr-defined]
    return visits


def _with_etag(visit: Visit, status: int = 200) -> tuple[Visit, int, dict[str, str]]:
    _with_delivery([visit])
    return visit, status, {"ETag": lifecycle.etag(visit)}


@describe.register
def _visit_subjects(visit: Visit) -> list[Subject]:
    return about_children("visit", visit.id, [child.child_id for child in visit.children])


@describe.register
def _version_subjects(version: VisitVersion) -> list[Subject]:
    children = [uuid.UUID(entry["child_id"]) for entry in version.snapshot.get("children", [])]
    return about_children("visit_version", f"{version.visit_id}/v{version.number}", children)


# A change made "from whatever version there is" is not one made from a version the caller saw.
STAR_REFUSED = "If-Match is '*', which names no version"
WRITES = "a write: the visit's lifecycle records it"


@blp.put("/visits/<uuid:visit_id>")
@blp.login_required("social_worker")
@blp.doc(parameters=[IF_MATCH])
@blp.arguments(VisitInSchema)
@blp.response(200, VisitOutSchema, description="Draft updated, or an identical create replayed")
@blp.alt_response(201, schema=VisitOutSchema, description="Visit created")
@blp.alt_response(409, description="Not editable in its status, or the id is used elsewhere")
@blp.alt_response(412, description="If-Match is stale")
@blp.alt_response(422, description="Invalid fields, a case not yours, a child not on the case")
@blp.alt_response(428, description="If-Match missing on an update, or '*'")
@audit_exempt(WRITES)
def put_visit(body: dict[str, Any], visit_id: uuid.UUID) -> Any:
    """Create a visit with the id the tablet chose, or update a draft or returned visit.

    Creating answers 201. Updating needs ``If-Match`` with the current ETag (428 without it, 412
    when stale). Sending exactly the same body again answers 200 with the record unchanged, so
    a tablet can retry safely. Drafts may be incomplete; the full rules apply at submit.
    """
    visit, created = operations.put_visit(g.user, visit_id, body, _if_match())
    return _with_etag(visit, 201 if created else 200)


@blp.get("/visits")
@blp.login_required(*READERS)
@blp.arguments(VisitQuerySchema, location="query")
@blp.response(200, VisitOutSchema(many=True))
@blp.paginate()
@audited(Action.LIST)
def list_visits(filters: dict[str, Any], pagination_parameters: Any) -> list[Visit]:
    """Visits in the caller's scope, newest first; filter by case, child, status, worker, dates."""
    visits = paginate_select(operations.visit_query(g.user, filters), pagination_parameters)
    return _with_delivery(visits)


@blp.get("/visits/<uuid:visit_id>")
@blp.login_required(*READERS)
@blp.response(200, VisitOutSchema)
@blp.alt_response(404, description="No such visit, or not in your scope")
@audited(Action.READ)
def get_visit(visit_id: uuid.UUID) -> Any:
    """One visit, with its ETag."""
    return _with_etag(operations.get_visit(g.user, visit_id))


@blp.post("/visits/<uuid:visit_id>/submit")
@blp.login_required("social_worker")
@blp.doc(parameters=[IF_MATCH])
@blp.response(200, VisitOutSchema)
@blp.alt_response(409, description="Approved: amend it first")
@blp.alt_response(412, description="If-Match names a version that is no longer current")
@blp.alt_response(422, description="A submission rule fails; errors lists each field")
@blp.alt_response(428, description=STAR_REFUSED)
@audit_exempt(WRITES)
def submit_visit(visit_id: uuid.UUID) -> Any:
    """Check every rule and submit the visit for review; snapshots an immutable version.

    Every child needs seen true or false; not seen or not seen alone needs a reason; a seen child
    needs their views or why they could not be gathered; the visit must have ended, after it
    started, and not in the future. Submitting updates each child's last seen and next due date.
    Submitting an already-submitted visit again (a retry, or two sent at once) is harmless.
    The version snapshots exactly what was in the record at that moment, with the evidence.
    """
    visit = submission.submit_visit(g.user, visit_id, _if_match())
    return _with_etag(visit)


@blp.post("/visits/<uuid:visit_id>/amend")
@blp.login_required("social_worker")
@blp.doc(parameters=[IF_MATCH])
@blp.arguments(AmendSchema)
@blp.response(200, VisitOutSchema)
@blp.alt_response(409, description="Not an approved visit")
@blp.alt_response(412, description="If-Match names a version that is no longer current")
@blp.alt_response(428, description=STAR_REFUSED)
@audit_exempt(WRITES)
def amend_visit(body: dict[str, Any], visit_id: uuid.UUID) -> Any:
    """Reopen an approved visit for correction, with the reason; it goes back through review.

    Until it is submitted again, the approved version stays the record: the chronology, the
    children's dates and the overdue list keep showing what was approved.
    """
    visit = operations.amend_visit(g.user, visit_id, body["reason"], _if_match())
    return _with_etag(visit)


@blp.delete("/visits/<uuid:visit_id>")
@blp.login_required("social_worker")
@blp.doc(parameters=[IF_MATCH])
@blp.response(204)
@blp.alt_response(409, description="The visit was submitted at some point and is kept")
@blp.alt_response(412, description="If-Match names a version that is no longer current")
@blp.alt_response(428, description=STAR_REFUSED)
@audit_exempt(WRITES)
def delete_visit(visit_id: uuid.UUID) -> None:
    """Delete a draft that was never submitted (the deletion is audited)."""
    operations.delete_visit(g.user, visit_id, _if_match())


@blp.get("/visits/<uuid:visit_id>/versions")
@blp.login_required(*READERS)
@blp.response(200, VersionSummarySchema(many=True))
@audited(Action.LIST)
def list_versions(visit_id: uuid.UUID) -> list[VisitVersion]:
    """Every submission of the visit, oldest first."""
    return operations.list_versions(g.user, visit_id)


@blp.get("/visits/<uuid:visit_id>/versions/<int:number>")
@blp.login_required(*READERS)
@blp.response(200, VersionSchema)
@audited(Action.READ)
def get_version(visit_id: uuid.UUID, number: int) -> VisitVersion:
    """One submission exactly as it was submitted: what the supervisor reviewed."""
    return operations.get_version(g.user, visit_id, number)
