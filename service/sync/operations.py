"""Applying a sync batch item by item, and gathering the changes a worker needs.

Each item runs in its own savepoint: it is applied whole or not at all, and one bad item never
sinks the batch. The per-item results are kept as a receipt, so the identical batch sent again
(the connection dropped after the server committed) gets the same results and changes nothing;
the changes part of the answer is always computed afresh.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from api_schemas.cases import CaseSchema
from api_schemas.sync import ReturnedVisitSchema, SyncVisitSchema
from api_schemas.visits import VisitOutSchema
from service.auth.models import AuthSession, Device, User
from service.cases.models import Case, Child, case_children
from service.columns import utcnow
from service.errors import DomainError, Forbidden, TooLarge, ValidationFailed, flatten_errors
from service.evidence.models import Attachment
from service.extensions import db
from service.policy import case_scope
from service.reviews.operations import latest_return_comments
from service.sync.changes import current_seq
from service.sync.models import SyncReceipt
from service.visits import derived
from service.visits.lifecycle import Status, etag
from service.visits.models import Visit
from service.visits.operations import content_digest, create_visit, put_visit
from service.visits.submission import submit_visit

log = logging.getLogger(__name__)

ITEM_ONLY = ("id", "base_version", "submit", "attachment_ids")
# Built once: marshmallow schemas are reusable, and building one per item is measurable.
ITEM_SCHEMA = SyncVisitSchema()
VISIT_SCHEMA = VisitOutSchema()
RECEIPT_DAYS = 7


def request_digest(user: User, body: dict[str, Any]) -> str:
    """Identify a batch by its items: the same user sending the same visits gets the same digest."""
    items = {"device_id": body["device_id"], "visits": body["visits"]}
    canonical = json.dumps(items, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{user.id}:{canonical}".encode()).hexdigest()


def encode_cursor(seq: int) -> str:
    """An opaque cursor for a sequence number."""
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The sequence number in a cursor; 422 for one we did not issue."""
    if cursor is None:
        return None
    try:
        version, _, seq = (
            base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
        )
        if version != "v1" or not seq.isdigit():
            raise ValueError(cursor)
        return int(seq)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(
            "sync.invalid_cursor", "Unknown cursor.", errors={"cursor": ["Not a cursor we issued."]}
        ) from None


@dataclass(frozen=True)
class SyncOutcome:
    """What a batch did: a result per item, what changed since the cursor, the next cursor."""

    results: list[dict[str, Any]]
    changes: dict[str, Any]
    cursor: str
    changed_case_ids: list[uuid.UUID]
    replayed: bool


def sync_batch(user: User, body: dict[str, Any], *, session_id: Any, max_items: int) -> SyncOutcome:
    """Apply a batch from a tablet (or recognise it as sent before) and gather the changes.

    ``session_id`` is the sign-in session the token belongs to (None for identity-provider
    tokens): the batch must come from that session's device.
    """
    if len(body["visits"]) > max_items:
        raise TooLarge("sync.batch_too_large", f"At most {max_items} visits per batch; split it.")
    since = decode_cursor(body["cursor"])
    check_device(user, body["device_id"], session_id)
    results = replayed_results(user, body)
    replayed = results is not None
    if results is None:
        results = [apply_item(user, raw) for raw in body["visits"]]
        keep_receipt(user, body, results)
        derived.settle()  # the children's dates, once each, before the changes are read
    # Changes are always computed afresh: a poll repeated with the same cursor must still hear
    # about what happened since.
    changes, cursor, case_ids = changes_since(user, since)
    return SyncOutcome(results, changes, cursor, case_ids, replayed)


def check_device(user: User, device_key: str, session_id: Any) -> None:
    """The batch must come from the device the caller signed in with (and not a revoked one)."""
    if session_id is not None:
        session = db.session.get(AuthSession, session_id)
        device = session.device if session else None
        if device is None or device.client_device_id != device_key:
            raise ValidationFailed(
                "sync.device_mismatch",
                "Sign in with this tablet's device id to sync.",
                errors={"device_id": ["Not the device this session signed in with."]},
            )
        return
    # Identity-provider tokens carry no session: register the device on first sight.
    device = db.session.scalar(
        select(Device).where(Device.user_id == user.id, Device.client_device_id == device_key)
    )
    if device is None:
        db.session.add(Device(user_id=user.id, client_device_id=device_key))
    elif device.revoked_at is not None:
        raise Forbidden("auth.device_revoked", "This device has been revoked.")


def replayed_results(user: User, body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The per-item results already given to this exact batch, if it was sent before."""
    if not body["visits"]:
        return None
    receipt = db.session.scalar(
        select(SyncReceipt).where(
            SyncReceipt.user_id == user.id,
            SyncReceipt.device_key == body["device_id"],
            SyncReceipt.request_digest == request_digest(user, body),
        )
    )
    return list(receipt.response["results"]) if receipt else None


def keep_receipt(user: User, body: dict[str, Any], results: list[dict[str, Any]]) -> None:
    """Store a batch's results for replays; receipts older than a week are dropped."""
    if not body["visits"]:
        return
    db.session.execute(
        delete(SyncReceipt).where(
            SyncReceipt.user_id == user.id,
            SyncReceipt.created_at < utcnow() - timedelta(days=RECEIPT_DAYS),
        )
    )
    db.session.add(
        SyncReceipt(
            user_id=user.id,
            device_key=body["device_id"],
            request_digest=request_digest(user, body),
            response={"results": results},
        )
    )


def apply_item(user: User, raw: Any) -> dict[str, Any]:
    """Apply one item atomically and describe the outcome.

    The item runs in a savepoint: whatever fails in it is undone, and nothing it did stays in
    memory to be written with the next item.
    """
    item_id = str(raw.get("id")) if isinstance(raw, dict) else None
    try:
        item = ITEM_SCHEMA.load(raw if isinstance(raw, dict) else {})
    except ValidationError as error:
        return {"id": item_id, "result": "rejected", "errors": flatten_errors(error.messages)}
    try:
        return _apply_isolated(user, item)
    except BaseException:
        _forget_item()
        raise


def _forget_item() -> None:
    """Drop what a failed item left in the session: its new objects and unflushed changes."""
    for obj in list(db.session.new):
        db.session.expunge(obj)
    db.session.expire_all()


def _apply_isolated(user: User, item: dict[str, Any]) -> dict[str, Any]:
    item_id = str(item["id"])
    try:
        try:
            with db.session.begin_nested():
                result = _apply(user, item)
        except IntegrityError:
            # Another request created this visit id at the same moment: look again.
            _forget_item()
            with db.session.begin_nested():
                result = _apply(user, item)
    except OperationalError:
        raise  # the database itself is unavailable: the whole batch answers 503
    except DBAPIError as error:
        # Something the database refused that the checks did not catch; never its parameters.
        log.warning("sync item %s refused by the database: %s", item_id, type(error.orig).__name__)
        _forget_item()
        return {
            "id": item_id,
            "result": "rejected",
            "errors": {"_item": ["This visit could not be stored; check its fields."]},
        }
    except ValidationFailed as error:
        _forget_item()
        return {
            "id": item_id,
            "result": "rejected",
            "errors": error.errors or {"_item": [error.detail]},
        }
    except DomainError as error:
        _forget_item()
        visit = db.session.get(Visit, item["id"], populate_existing=True)
        if visit is None or visit.worker_id != user.id or error.status not in (409, 412):
            return {"id": item_id, "result": "rejected", "errors": {"id": [error.detail]}}
        return _conflict(visit)
    result["missing_attachments"] = _missing_attachments(item)
    return result


def _apply(user: User, item: dict[str, Any]) -> dict[str, Any]:
    body = {key: value for key, value in item.items() if key not in ITEM_ONLY}
    existing = db.session.get(Visit, item["id"])
    if existing is None:
        visit, _ = create_visit(user, item["id"], body)
        if item["submit"]:
            visit = submit_visit(user, visit.id, None)
        return {"id": str(visit.id), "result": "created", "version": visit.version}
    if existing.worker_id != user.id:
        raise ValidationFailed(
            "sync.id_in_use",
            "Not yours.",
            errors={"id": ["This visit id is used by another record."]},
        )
    same_content = existing.content_digest == content_digest(body)
    submitted = existing.status in (Status.SUBMITTED, Status.APPROVED)
    if same_content and (submitted or not item["submit"]):
        return {"id": str(existing.id), "result": "unchanged", "version": existing.version}
    if item["base_version"] != existing.version:
        return _conflict(existing)
    visit = existing
    if not same_content:
        visit, _ = put_visit(user, existing.id, body, etag(existing))
    if item["submit"]:
        visit = submit_visit(user, visit.id, None)
    return {"id": str(visit.id), "result": "updated", "version": visit.version}


def _conflict(visit: Visit) -> dict[str, Any]:
    return {
        "id": str(visit.id),
        "result": "conflict",
        "version": visit.version,
        "server_visit": VISIT_SCHEMA.dump(visit),
    }


def _missing_attachments(item: dict[str, Any]) -> list[str]:
    wanted = set(item["attachment_ids"])
    if not wanted:
        return []
    held = set(
        db.session.scalars(
            select(Attachment.id).where(
                Attachment.visit_id == item["id"], Attachment.id.in_(wanted)
            )
        )
    )
    return sorted(str(attachment_id) for attachment_id in wanted - held)


def changes_since(user: User, since: int | None) -> tuple[dict[str, Any], str, list[uuid.UUID]]:
    """The worker's changed cases, their whole caseload's ids, and visits returned to them."""
    cursor = current_seq(db.session)  # read first: every change up to it is committed
    cases = select(Case).where(case_scope(user)).order_by(Case.core_ref)
    returned = (
        select(Visit)
        .join(Case, Case.id == Visit.case_id)
        .where(Visit.worker_id == user.id, Visit.status == Status.RETURNED)
        .where(Case.purging_since.is_(None))  # a case being purged is absent
    )
    if since is not None:
        child_changed = (
            select(case_children.c.case_id)
            .join(Child, Child.id == case_children.c.child_id)
            .where(case_children.c.case_id == Case.id, Child.change_seq > since)
            .exists()
        )
        cases = cases.where((Case.change_seq > since) | child_changed)
        returned = returned.where(Visit.change_seq > since)
    changed_cases = list(db.session.scalars(cases))
    caseload_ids = list(db.session.scalars(select(Case.id).where(case_scope(user))))
    returned_visits = list(db.session.scalars(returned.order_by(Visit.started_at)))
    comments = latest_return_comments([visit.id for visit in returned_visits])
    for visit in returned_visits:
        visit.review_comment = comments.get(visit.id)  # type: ignore[attr-defined]
    changes = {
        "cases": CaseSchema(many=True).dump(changed_cases),
        "caseload_case_ids": [str(case_id) for case_id in caseload_ids],
        "returned_visits": ReturnedVisitSchema(many=True).dump(returned_visits),
    }
    return changes, encode_cursor(cursor), [case.id for case in changed_cases]
