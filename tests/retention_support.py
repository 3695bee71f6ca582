"""Helpers for the retention tests: cases made due, visits with evidence, what is left."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import func, select

from service.cases.models import Case, Child
from service.extensions import db
from tests.factories import new_id, visit_body

PDF = b"%PDF-1.4\n%%EOF\n"


def make_due(app: Any, case_id: str, born: date = date(2000, 1, 1)) -> None:
    """Make every child on the case a child in need born long ago, and close the case: it is
    due (an open case never is).
    """
    with app.app_context():
        case = db.session.get(Case, uuid.UUID(case_id))
        for child in case.children:
            child.plan_type, child.date_of_birth = "child_in_need", born
        case.status, case.closed_on = "closed", date(2020, 1, 1)
        db.session.commit()


def visit_with_evidence(app: Any, worker: Any, case_id: str, *, approve_by: Any = None) -> str:
    """A submitted visit on the case with one evidence file (approved if ``approve_by``)."""
    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(case_id)))
    visit_id = new_id()
    assert worker.put(f"/visits/{visit_id}", json=body).status_code == 201
    upload = worker.post(
        f"/visits/{visit_id}/attachments",
        data=PDF,
        headers={
            "Content-Type": "application/pdf",
            "X-Attachment-Id": new_id(),
            "X-Attachment-Kind": "document",
            "X-Filename": "plan.pdf",
        },
    )
    assert upload.status_code == 201, upload.get_json()
    submitted = worker.post(f"/visits/{visit_id}/submit")
    assert submitted.status_code == 200, submitted.get_json()
    if approve_by is not None:
        decided = approve_by.post(
            f"/visits/{visit_id}/review",
            json={"decision": "approve"},
            headers={"If-Match": submitted.headers["ETag"]},
        )
        assert decided.status_code == 201, decided.get_json()
    return visit_id


def stored_keys(app: Any) -> set[str]:
    """Every object in the evidence store."""
    return {item.key for item in app.extensions["evidence_store"].list()}


def rows_naming(case_id: str, child_ids: list[str]) -> dict[str, int]:
    """How many rows of each table still name the case, its visits or its children."""
    from service.cases.models import CaseAllocation, ChildPlanEvent, case_children
    from service.core_system.models import OutboxMessage
    from service.evidence.models import Attachment
    from service.retention.models import LegalHold
    from service.reviews.models import Review
    from service.visits.models import RecordedChild, Visit, VisitChild, VisitVersion

    case = uuid.UUID(case_id)
    children = [uuid.UUID(child) for child in child_ids]
    visits = select(Visit.id).where(Visit.case_id == case)
    counts = {
        "cases": select(func.count()).where(Case.id == case),
        "visits": select(func.count()).select_from(Visit).where(Visit.case_id == case),
        "case_children": select(func.count())
        .select_from(case_children)
        .where(case_children.c.case_id == case),
        "allocations": select(func.count()).where(CaseAllocation.case_id == case),
        "holds": select(func.count()).where(LegalHold.case_id == case),
        "children": select(func.count()).where(Child.id.in_(children)),
        "plan_events": select(func.count()).where(ChildPlanEvent.child_id.in_(children)),
        "visit_children": select(func.count()).where(VisitChild.child_id.in_(children)),
        "versions": select(func.count()).where(VisitVersion.visit_id.in_(visits)),
        "record_children": select(func.count()).where(RecordedChild.child_id.in_(children)),
        "attachments": select(func.count()).where(Attachment.child_id.in_(children)),
        "reviews": select(func.count()).where(Review.visit_id.in_(visits)),
        "outbox": select(func.count()).where(OutboxMessage.visit_id.in_(visits)),
    }
    return {name: int(db.session.scalar(query) or 0) for name, query in counts.items()}
