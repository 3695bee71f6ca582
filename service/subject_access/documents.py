"""The export's JSON documents, as the child's own files: their entries in full, other children's
entries on shared visits withheld, and every third-party item noted on the redaction sheet.

A version file wraps the submitted snapshot (the record, format ``service.visits.record``) with
who submitted it and when. Another child's entry in it is replaced by ``{"withheld": ...}``,
so ``recorded_sha256`` (the digest of the snapshot as submitted) proves the original, held in
the service, rather than this copy.
"""

from __future__ import annotations

import uuid
from typing import Any

from service.evidence.content import safe_filename
from service.evidence.models import Attachment
from service.reviews.models import Review
from service.subject_access.gather import ChildRecord, VisitRecord, iso
from service.subject_access.redaction import (
    EVIDENCE,
    FREE_TEXT,
    OTHER_CHILD,
    PERSON_PRESENT,
    STAFF_NAME,
    RedactionSheet,
)
from service.visits.models import VisitVersion

FORMAT = 1
WITHHELD_CHILD = "another child on this visit: withheld (see redaction-sheet.csv)"
WITHHELD_EVIDENCE = "another child's evidence: withheld (see redaction-sheet.csv)"
MISSING = "missing"
MISSING_FROM_STORE = (
    "missing from the store: the service records this file (its size and SHA-256 are here) but "
    "the evidence store did not have it when the export was made, so it is not in this zip"
)
VISIT_TEXTS = ("location", "observations", "analysis", "next_actions", "amendment_reason")
CHILD_TEXTS = ("not_seen_detail", "not_seen_alone_detail")
VOICE_TEXTS = ("own_words", "wishes_and_feelings", "good_things", "worries", "dreams")


def staff(gathered: ChildRecord, user_id: uuid.UUID | str | None) -> dict[str, Any] | None:
    """A member of staff as the export names them."""
    if user_id is None:
        return None
    return {"id": str(user_id), "name": gathered.name_of(user_id)}


def _staff_row(sheet: RedactionSheet, file: str, field: str, person: dict[str, Any] | None) -> None:
    if person is not None:
        sheet.review(file, f"{field}.name", STAFF_NAME, person["name"] or "")


def child_document(gathered: ChildRecord, sheet: RedactionSheet) -> dict[str, Any]:
    """``child.json``: the child's details, plan history, cases and their allocation."""
    child = gathered.child
    cases = []
    for index, case in enumerate(sorted(child.cases, key=lambda case: case.core_ref)):
        worker = staff(gathered, case.allocated_worker_id)
        _staff_row(sheet, "child.json", f"cases[{index}].allocated_worker", worker)
        history = []
        for number, allocation in enumerate(gathered.allocations[case.id]):
            person = staff(gathered, allocation.worker_id)
            _staff_row(sheet, "child.json", f"cases[{index}].allocations[{number}].worker", person)
            history.append(
                {
                    "worker": person,
                    "from": iso(allocation.allocated_from),
                    "until": iso(allocation.allocated_until),
                }
            )
        cases.append(
            {
                "id": str(case.id),
                "core_ref": case.core_ref,
                "status": case.status,
                "opened_on": case.opened_on.isoformat(),
                "closed_on": case.closed_on.isoformat() if case.closed_on else None,
                "team": case.team.display_name,
                "allocated_worker": worker,
                "allocations": history,
            }
        )
    return {
        "format": FORMAT,
        "child": {
            "id": str(child.id),
            "core_person_ref": child.core_person_ref,
            "name": child.name,
            "date_of_birth": child.date_of_birth.isoformat() if child.date_of_birth else None,
            "plan_type": child.plan_type,
            "plan_start_date": child.plan_start_date.isoformat(),
            "last_seen_at": iso(child.last_seen_at),
            "last_seen_alone_at": iso(child.last_seen_alone_at),
            "next_visit_due": child.next_visit_due.isoformat(),
        },
        "plan_history": [
            {
                "plan_type": event.plan_type,
                "plan_start_date": event.plan_start_date.isoformat(),
                "recorded_at": iso(event.recorded_at),
            }
            for event in gathered.plan_events
        ],
        "cases": cases,
    }


def childs_view(
    snapshot: dict[str, Any], child_id: uuid.UUID, file: str, sheet: RedactionSheet
) -> dict[str, Any]:
    """The snapshot as the child's file holds it: other children's entries and evidence withheld,
    and every third-party item in it on the redaction sheet.
    """
    mine = str(child_id)
    view = dict(snapshot)
    view["children"] = []
    for index, entry in enumerate(snapshot.get("children") or []):
        field = f"record.children[{index}]"
        if entry.get("child_id") == mine:
            view["children"].append(entry)
            _free_text(sheet, file, field, entry, CHILD_TEXTS)
            _free_text(sheet, file, f"{field}.voice", entry.get("voice") or {}, VOICE_TEXTS)
            continue
        view["children"].append({"withheld": WITHHELD_CHILD})
        sheet.withheld(
            file,
            field,
            OTHER_CHILD,
            f"child {entry.get('child_id')}: seen, seen alone, reasons and their voice",
        )
    view["evidence"] = []
    for index, item in enumerate(snapshot.get("evidence") or []):
        if item.get("child_id") in (None, mine):
            view["evidence"].append(item)
            continue
        view["evidence"].append({"withheld": WITHHELD_EVIDENCE})
        sheet.withheld(
            file,
            f"record.evidence[{index}]",
            OTHER_CHILD,
            f"evidence {item.get('id')} of child {item.get('child_id')}",
        )
    for index, person in enumerate(snapshot.get("people_present") or []):
        sheet.review(file, f"record.people_present[{index}]", PERSON_PRESENT, str(person))
    _free_text(sheet, file, "record", snapshot, VISIT_TEXTS)
    return view


def _free_text(
    sheet: RedactionSheet, file: str, prefix: str, holder: dict[str, Any], names: tuple[str, ...]
) -> None:
    for name in names:
        if (holder.get(name) or "").strip():
            sheet.review(file, f"{prefix}.{name}", FREE_TEXT, "free text: may name other people")


def version_document(
    gathered: ChildRecord, item: VisitRecord, version: VisitVersion, sheet: RedactionSheet
) -> dict[str, Any]:
    """``visits/<visit-id>/v<N>.json``: one submitted version, as the child's file holds it."""
    file = version_path(item, version.number)
    worker = staff(gathered, version.snapshot.get("worker_id"))
    submitter = staff(gathered, version.submitted_by_id)
    _staff_row(sheet, file, "worker", worker)
    _staff_row(sheet, file, "submitted_by", submitter)
    return {
        "format": FORMAT,
        "visit_id": str(item.visit.id),
        "version": version.number,
        "kind": "submitted version (part of the record)",
        "submitted_at": iso(version.submitted_at),
        "submitted_by": submitter,
        "worker": worker,
        "amendment_reason": version.amendment_reason,
        "record_format": version.format,
        "recorded_sha256": version.sha256,
        "record": childs_view(version.snapshot, gathered.child.id, file, sheet),
    }


def draft_document(
    gathered: ChildRecord, item: VisitRecord, sheet: RedactionSheet
) -> dict[str, Any] | None:
    """``visits/<visit-id>/draft.json``: the unsubmitted working copy, if the visit has one."""
    if item.draft is None:
        return None
    file = draft_path(item)
    worker = staff(gathered, item.visit.worker_id)
    _staff_row(sheet, file, "worker", worker)
    return {
        "format": FORMAT,
        "visit_id": str(item.visit.id),
        "kind": "draft: not submitted, not part of the record; may still change",
        "last_changed_at": iso(item.visit.updated_at),
        "worker": worker,
        "record": childs_view(item.draft, gathered.child.id, file, sheet),
    }


def version_path(item: VisitRecord, number: int) -> str:
    """Where a version sits in the zip."""
    return f"visits/{item.visit.id}/v{number}.json"


def draft_path(item: VisitRecord) -> str:
    """Where a visit's draft sits in the zip."""
    return f"visits/{item.visit.id}/draft.json"


def reviews_document(gathered: ChildRecord, sheet: RedactionSheet) -> dict[str, Any]:
    """``reviews.json``: every decision on the visits in the export, oldest first."""
    return {
        "format": FORMAT,
        "reviews": [
            _review(gathered, review, index, sheet) for index, review in enumerate(gathered.reviews)
        ],
    }


def _review(
    gathered: ChildRecord, review: Review, index: int, sheet: RedactionSheet
) -> dict[str, Any]:
    reviewer = staff(gathered, review.reviewer_id)
    _staff_row(sheet, "reviews.json", f"reviews[{index}].reviewer", reviewer)
    holder = {"comment": review.comment, "management_decision": review.management_action}
    _free_text(sheet, "reviews.json", f"reviews[{index}]", holder, tuple(holder))
    decision = None
    if review.management_action is not None:
        decision = {
            "action": review.management_action,
            "due_by": review.management_due_by.isoformat() if review.management_due_by else None,
        }
    return {
        "id": str(review.id),
        "visit_id": str(review.visit_id),
        "version": review.version_number,
        "decision": review.decision,
        "comment": review.comment,
        "management_decision": decision,
        "decided_at": iso(review.decided_at),
        "reviewer": reviewer,
    }


def evidence_path(attachment: Attachment) -> str:
    """Where an attachment's bytes sit in the zip."""
    return f"evidence/{attachment.id}-{safe_filename(attachment.filename, attachment.content_type)}"


def exported_files(gathered: ChildRecord) -> list[Attachment]:
    """The attachments whose bytes go in the zip: the child's and the whole visit's, not erased."""
    return [
        attachment
        for attachment in gathered.attachments
        if attachment.child_id in (None, gathered.child.id) and attachment.erased_at is None
    ]


def evidence_document(
    gathered: ChildRecord, sheet: RedactionSheet, missing: set[uuid.UUID] | None = None
) -> dict[str, Any]:
    """``evidence.json``: every attachment on the visits: exported, erased (a tombstone: no
    file), missing (``missing``: the store did not have it; no file), or another child's
    (withheld).
    """
    missing = missing or set()
    entries: list[dict[str, Any]] = []
    for index, attachment in enumerate(gathered.attachments):
        if attachment.child_id not in (None, gathered.child.id):
            entries.append({"id": str(attachment.id), "status": "withheld"})
            sheet.withheld(
                "evidence.json",
                f"evidence[{index}]",
                OTHER_CHILD,
                f"evidence {attachment.id} of child {attachment.child_id}: not exported",
            )
            continue
        entries.append(_evidence_entry(gathered, attachment, attachment.id in missing))
        entry = entries[-1]
        _staff_row(sheet, "evidence.json", f"evidence[{index}].uploaded_by", entry["uploaded_by"])
        for change in ("withdrawn", "erased"):
            if entry[change] is not None:
                field = f"evidence[{index}].{change}"
                _staff_row(sheet, "evidence.json", f"{field}.by", entry[change]["by"])
                _free_text(sheet, "evidence.json", field, entry[change], ("reason",))
        if entry["status"] == "exported" and attachment.child_id is None:
            sheet.review(
                evidence_path(attachment),
                "(the file)",
                EVIDENCE,
                f"a {attachment.kind} of the whole visit: may show or name other people",
                also_in="",
            )
    return {"format": FORMAT, "evidence": entries}


def _evidence_entry(
    gathered: ChildRecord, attachment: Attachment, missing: bool = False
) -> dict[str, Any]:
    erased = attachment.erased_at is not None
    status = "erased" if erased else MISSING if missing else "exported"
    entry: dict[str, Any] = {
        "id": str(attachment.id),
        "visit_id": str(attachment.visit_id),
        "status": status,
        "file": evidence_path(attachment) if status == "exported" else None,
        "about": "this child" if attachment.child_id else "the whole visit",
        "kind": attachment.kind,
        "content_type": attachment.content_type,
        "size": attachment.stored_size,
        "sha256": attachment.stored_sha256,
        "metadata_removed": attachment.metadata_removed,
        "uploaded_at": iso(attachment.uploaded_at),
        "uploaded_by": staff(gathered, attachment.uploaded_by_id),
        "first_version": attachment.first_version,
        "withdrawn": None,
        "erased": None,
        "missing": MISSING_FROM_STORE if status == MISSING else None,
    }
    if attachment.withdrawn_at is not None:
        entry["withdrawn"] = {
            "at": iso(attachment.withdrawn_at),
            "by": staff(gathered, attachment.withdrawn_by_id),
            "reason": attachment.withdrawn_reason,
        }
    if erased:
        entry["erased"] = {
            "at": iso(attachment.erased_at),
            "by": staff(gathered, attachment.erased_by_id),
            "reason": attachment.erased_reason,
        }
    return entry
