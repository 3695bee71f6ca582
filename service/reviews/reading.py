"""A visit as its reviewer reads it: the latest submitted version, its children by name, its
evidence, the history with what changed, the delivery to the core system and the decisions.

Built for the desk's visit page (and its decision form, which re-shows it) from the same
operations the API calls, so scope, "the submitted versions are the record" and the reviewer's
rules are the API's own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from service.auth.models import User
from service.cases.models import Child
from service.core_system.outbox import delivery_states
from service.evidence.operations import list_attachments
from service.extensions import db
from service.reviews.models import Review
from service.reviews.operations import needs_management_decision, reviewer_refusal, reviews_of
from service.visits import diff, lifecycle, record
from service.visits.lifecycle import Status
from service.visits.models import Visit, VisitVersion
from service.visits.operations import get_visit, list_versions, version_evidence

REVIEWERS = ("supervisor", "manager")


@dataclass(frozen=True)
class ChildOnVisit:
    """One child as the shown version records them."""

    child_id: str
    name: str
    plan_type: str | None
    entry: dict[str, Any]

    @property
    def voice(self) -> dict[str, Any]:
        """Their voice (empty when nothing was recorded)."""
        return self.entry.get("voice") or {}


@dataclass(frozen=True)
class EvidenceItem:
    """A piece of evidence the shown version holds, and what became of it since."""

    id: str
    kind: str
    child_name: str | None
    content_type: str
    size: int
    withdrawn: bool
    erased: bool
    erased_reason: str | None = None

    @property
    def readable(self) -> bool:
        """Whether its bytes may still be fetched (an erased file is a tombstone)."""
        return not self.erased


@dataclass(frozen=True)
class VersionRow:
    """One submission in the history, with what changed since the one before."""

    number: int
    submitted_at: datetime
    submitted_by: str
    amendment_reason: str | None
    sha256: str
    changes: list[diff.Section]


@dataclass
class VisitReading:
    """Everything the visit page shows, and the records it shows (for the audit trail)."""

    visit: Visit
    snapshot: dict[str, Any]
    version_number: int | None
    children: list[ChildOnVisit]
    evidence: list[EvidenceItem]
    versions: list[VersionRow]
    delivery: dict[str, Any] | None
    reviews: list[Review]
    etag: str
    awaiting_review: bool
    may_decide: bool
    decision_refused: str | None
    needs_management_decision: bool
    shows: list[Any] = field(default_factory=list)


def read_visit(user: User, visit_id: uuid.UUID) -> VisitReading:
    """The visit for ``user`` (404 out of scope), as its latest submitted version records it;
    a draft never submitted is shown as it stands.
    """
    visit = get_visit(user, visit_id)
    versions = list_versions(user, visit.id)
    latest = versions[-1] if versions else None
    snapshot = latest.snapshot if latest else record.snapshot(visit, _draft_evidence(user, visit))
    names, plans = _children_named(visit, [version.snapshot for version in versions] + [snapshot])
    evidence_rows = version_evidence(latest) if latest else snapshot["evidence"]
    awaiting = visit.status == Status.SUBMITTED
    refusal = reviewer_refusal(user, visit) if user.role in REVIEWERS else None
    reviews = reviews_of(user, visit.id)
    return VisitReading(
        visit=visit,
        snapshot=snapshot,
        version_number=latest.number if latest else None,
        children=[
            ChildOnVisit(
                entry["child_id"],
                names.get(entry["child_id"], "A child"),
                plans.get(entry["child_id"]),
                entry,
            )
            for entry in snapshot["children"]
        ],
        evidence=[_evidence_item(item, names) for item in evidence_rows],
        versions=_history(versions, names),
        delivery=delivery_states([visit.id])[visit.id],
        reviews=reviews,
        etag=lifecycle.etag(visit),
        awaiting_review=awaiting,
        may_decide=awaiting and user.role in REVIEWERS and refusal is None,
        decision_refused=refusal.detail if awaiting and refusal is not None else None,
        needs_management_decision=awaiting and needs_management_decision(visit),
        shows=[visit, *versions, *reviews],
    )


def _draft_evidence(user: User, visit: Visit) -> list[dict[str, Any]]:
    return [
        record.evidence_entry(
            row.id, row.kind, row.child_id, row.content_type, row.stored_size, row.stored_sha256
        )
        for row in list_attachments(user, visit.id)
        if row.withdrawn_at is None
    ]


def _children_named(
    visit: Visit, snapshots: list[dict[str, Any]]
) -> tuple[dict[str, str], dict[str, str]]:
    """Names and plan types of every child any version names (all on the visit's case)."""
    ids = {uuid.UUID(entry["child_id"]) for shot in snapshots for entry in shot["children"]}
    ids |= {row.child_id for row in visit.children}
    rows = db.session.execute(
        select(Child.id, Child.name, Child.plan_type).where(Child.id.in_(ids))
    ).all()
    return (
        {str(child_id): name for child_id, name, _ in rows},
        {str(child_id): plan for child_id, _, plan in rows},
    )


def _evidence_item(item: dict[str, Any], names: dict[str, str]) -> EvidenceItem:
    return EvidenceItem(
        id=item["id"],
        kind=item["kind"],
        child_name=names.get(item.get("child_id") or ""),
        content_type=item["content_type"],
        size=item["size"],
        withdrawn=bool(item.get("withdrawn_at")),
        erased=bool(item.get("erased_at")),
        erased_reason=item.get("erased_reason"),
    )


def _history(versions: list[VisitVersion], names: dict[str, str]) -> list[VersionRow]:
    """Newest first, each with what changed since the one before it."""
    changes = diff.consecutive([(v.number, v.snapshot) for v in versions], names)
    submitters = dict(
        db.session.execute(
            select(User.id, User.display_name).where(
                User.id.in_({v.submitted_by_id for v in versions})
            )
        ).all()
    )
    return [
        VersionRow(
            number=version.number,
            submitted_at=version.submitted_at,
            submitted_by=submitters.get(version.submitted_by_id, "Unknown"),
            amendment_reason=version.amendment_reason,
            sha256=version.sha256,
            changes=changes.get(version.number, []),
        )
        for version in reversed(versions)
    ]
