"""The life of a visit: its statuses, the one table of allowed transitions, and the only code
that changes a visit's status or version.

Every change is claimed in the database before anything else is done: a conditional
``UPDATE visits ... WHERE id = :id AND version = :expected AND status IN (:allowed)``, checked
by row count. Of several requests holding the same ETag exactly one claims the visit; the
others find no row to update (PostgreSQL re-checks the condition once the winner commits) and
answer 412. Changes that must not move the version (adding evidence to a draft) take the same
row lock with a write that changes nothing, so a submission cannot interleave with them.

Each transition then emits a :class:`VisitEvent` on :data:`visit_changed`, inside the same
transaction: the children's derived dates, the oversight copies, the audit trail and the sync
change stamps subscribe to it (and, next, the core-system outbox).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from inspect import iscoroutinefunction
from typing import Any, TypeVar
from weakref import WeakSet

from blinker import ANY, NamedSignal
from flask import Flask
from sqlalchemy import event, update
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.http import parse_etags

from service.auth.models import User
from service.columns import utcnow, whole_number
from service.errors import Conflict, NotFound, PreconditionFailed, PreconditionRequired
from service.extensions import db
from service.visits import new_rows
from service.visits.models import Visit, VisitStatus, VisitVersion

Status = VisitStatus
EDITABLE = frozenset({Status.DRAFT, Status.RETURNED})


class Action(StrEnum):
    """Everything that can happen to a visit."""

    CREATE = "create"
    EDIT = "edit"
    SUBMIT = "submit"
    APPROVE = "approve"
    RETURN = "return"
    ESCALATE = "escalate"
    AMEND = "amend"
    DELETE = "delete"
    ADD_EVIDENCE = "add_evidence"
    REMOVE_EVIDENCE = "remove_evidence"
    WITHDRAW_EVIDENCE = "withdraw_evidence"
    ERASE_EVIDENCE = "erase_evidence"


@dataclass(frozen=True)
class Rule:
    """From which statuses an action may happen, where it leaves the visit, and the refusal."""

    sources: frozenset[Status]
    target: Status | None  # None: the status stays as it is
    new_version: bool
    refusal_code: str
    refusal: str  # formatted with the visit's status


_AWAITING_REVIEW = ("review.not_submitted", "A {status} visit is not awaiting review.")
TRANSITIONS: dict[Action, Rule] = {
    Action.CREATE: Rule(frozenset(), Status.DRAFT, True, "visit.id_in_use", "{status}"),
    Action.EDIT: Rule(
        EDITABLE, None, True, "visit.not_editable", "A {status} visit cannot be changed."
    ),
    Action.SUBMIT: Rule(
        EDITABLE,
        Status.SUBMITTED,
        True,
        "visit.not_submittable",
        "A {status} visit cannot be submitted.",
    ),
    Action.APPROVE: Rule(frozenset({Status.SUBMITTED}), Status.APPROVED, True, *_AWAITING_REVIEW),
    Action.RETURN: Rule(frozenset({Status.SUBMITTED}), Status.RETURNED, True, *_AWAITING_REVIEW),
    Action.ESCALATE: Rule(frozenset({Status.SUBMITTED}), None, True, *_AWAITING_REVIEW),
    Action.AMEND: Rule(
        frozenset({Status.APPROVED}),
        Status.DRAFT,
        True,
        "visit.not_amendable",
        "Only an approved visit can be amended.",
    ),
    Action.DELETE: Rule(
        frozenset({Status.DRAFT}),
        None,
        False,
        "visit.not_deletable",
        "Only a draft that was never submitted can be deleted.",
    ),
    Action.ADD_EVIDENCE: Rule(
        EDITABLE, None, False, "visit.not_editable", "Evidence cannot be added to a {status} visit."
    ),
    Action.REMOVE_EVIDENCE: Rule(
        EDITABLE,
        None,
        False,
        "attachment.not_deletable",
        "Evidence can be removed only while the visit is a draft or returned, not {status}.",
    ),
    Action.WITHDRAW_EVIDENCE: Rule(
        EDITABLE,
        None,
        False,
        "attachment.not_withdrawable",
        "Evidence can be withdrawn only while the visit is a draft or returned, not {status}.",
    ),
    Action.ERASE_EVIDENCE: Rule(frozenset(Status), None, False, "attachment.not_erasable", ""),
}


@dataclass
class VisitEvent:
    """Something that happened to a visit, in the transaction that did it.

    ``version`` is the snapshot a submission made; ``child_ids`` the children whose record the
    event may change (those on the visit before and after); ``details`` ids and codes only.
    """

    action: Action
    visit: Visit
    actor: User
    previous_status: str | None
    at: datetime
    version: VisitVersion | None = None
    child_ids: set[uuid.UUID] = field(default_factory=set)
    details: dict[str, Any] = field(default_factory=dict)


F = TypeVar("F", bound=Callable[..., Any])


class _PlainSignal(NamedSignal):
    """A signal whose receivers are plain functions, checked once, when each is connected.

    blinker asks of every receiver, on every send, whether it is a coroutine function (it
    cannot await one): seven receivers on every create, about 50 Python calls. The answer
    cannot change for a connected function, so it is asked when the receiver connects and a
    coroutine function is refused there.
    """

    def connect(self, receiver: F, sender: Any = ANY, weak: bool = True) -> F:
        """As blinker's, refusing a coroutine function (it would never be awaited)."""
        if iscoroutinefunction(receiver):
            raise TypeError(f"{self.name}: a receiver must be a plain function, not a coroutine")
        return super().connect(receiver, sender, weak)

    def send(
        self,
        sender: Any | None = None,
        /,
        *,
        _async_wrapper: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Callable[..., Any], Any]]:
        """Call every receiver connected for ``sender`` (or any sender), as blinker does."""
        if self.is_muted:
            return []
        return [(receiver, receiver(sender, **kwargs)) for receiver in self.receivers_for(sender)]


visit_changed = _PlainSignal("visit-changed")
CREATED = "visits_created_in_transaction"
EVIDENCED = "visits_given_evidence_in_transaction"


def etag(visit: Visit) -> str:
    """The visit's entity tag: its version number, quoted (a strong ETag)."""
    return f'"{visit.version}"'


def named_versions(if_match: str | None) -> set[int] | None:
    """The versions an ``If-Match`` header names, strong tags only; None without the header.

    ``*`` names no version: a change must say which version it was made from.
    """
    if if_match is None:
        return None
    etags = parse_etags(if_match)
    if etags.star_tag:
        raise PreconditionRequired(
            "visit.etag_required",
            "Send the visit's ETag in If-Match; '*' does not say which version you saw.",
        )
    return {version for tag in etags.as_set() if (version := whole_number(tag)) is not None}


def expected_version(visit: Visit, if_match: str | None, *, required: bool) -> int:
    """The version a change is made from: the one ``If-Match`` names (428 if required and
    missing, 412 if it is not the current one or is weak), or the version just read.
    """
    versions = named_versions(if_match)
    if versions is None:
        if required:
            raise PreconditionRequired(
                "visit.if_match_required", "Send If-Match with the visit's ETag to change it."
            )
        return visit.version
    if visit.version not in versions:
        raise stale(visit)
    return visit.version


def stale(visit: Visit) -> PreconditionFailed:
    """The 412 for a change made from a version that is no longer current."""
    return PreconditionFailed(
        "visit.version_conflict",
        f"The visit has changed since you read it (now version {visit.version}).",
    )


def refusal(visit: Visit, action: Action) -> Conflict:
    """The 409 for an action its status does not allow."""
    rule = TRANSITIONS[action]
    return Conflict(rule.refusal_code, rule.refusal.format(status=visit.status))


def start(actor: User, visit: Visit, *, at: datetime | None = None) -> VisitEvent:
    """A new visit enters its life as a version-1 draft (written at once, so a duplicate id
    raises ``IntegrityError`` here).
    """
    visit.status = Status.DRAFT
    visit.version = 1
    session = db.session()
    if session.in_nested_transaction():
        # A savepoint that rolls back must take the visit out of the session with its row,
        # which the unit of work does for what it flushed.
        session.add(visit)
        session.flush()
    else:
        session.flush()  # anything pending first (its case, in a seed), as a flush would order it
        new_rows.insert_new(session, visit)
    # The instance, not its id: if a savepoint rolls the insert back, this object is expunged,
    # and a row another request makes with the same id later is a different object.
    db.session.info.setdefault(CREATED, WeakSet()).add(visit)
    change = VisitEvent(Action.CREATE, visit, actor, None, at or utcnow())
    change.child_ids = {row.child_id for row in visit.children}
    visit_changed.send(change)
    return change


def created_here(visit: Visit) -> bool:
    """Whether this transaction created the visit: no other can see it, let alone change it
    (or attach evidence to it), until this one commits.
    """
    return visit in db.session.info.get(CREATED, ())


def holds_no_evidence(visit: Visit) -> bool:
    """Whether the visit surely holds no evidence: this transaction created it and attached
    none to it (a demo seed or a test may create, attach and submit in one transaction).
    """
    return created_here(visit) and visit not in db.session.info.get(EVIDENCED, ())


def _forget_created(session: Session, *args: Any) -> None:
    if not session.in_transaction():
        session.info.pop(CREATED, None)
        session.info.pop(EVIDENCED, None)


def _claim(visit: Visit, action: Action, expected: int | None, at: datetime) -> None:
    """Take the visit for this change in the database, or raise 412 / 409."""
    rule = TRANSITIONS[action]
    if created_here(visit):
        # Its row is this transaction's own: the change joins the next flush.
        if expected is not None and visit.version != expected:
            raise stale(visit)
        if rule.target:
            visit.status = rule.target
        if rule.new_version:
            visit.version += 1
            visit.updated_at = at
        return
    conditions = [Visit.id == visit.id, Visit.status.in_([str(s) for s in rule.sources])]
    values: dict[str, Any] = {"status": rule.target or Visit.status}
    if expected is not None:
        conditions.append(Visit.version == expected)
    if rule.new_version:
        values.update(version=Visit.version + 1, updated_at=at)
    claimed = db.session.execute(
        update(Visit)
        .where(*conditions)
        .values(**values)
        .returning(Visit.status, Visit.version)
        .execution_options(synchronize_session=False)
    ).first()
    if claimed is None:
        try:
            db.session.refresh(visit)
        except InvalidRequestError:  # deleted meanwhile (a draft)
            raise NotFound("visit.not_found", "No such visit.") from None
        if expected is not None and visit.version != expected:
            raise stale(visit)
        raise refusal(visit, action)
    set_committed_value(visit, "status", claimed.status)
    set_committed_value(visit, "version", claimed.version)
    if rule.new_version:
        set_committed_value(visit, "updated_at", at)


@contextmanager
def transition(
    actor: User,
    visit: Visit,
    action: Action,
    *,
    expected: int | None,
    at: datetime | None = None,
    **details: Any,
) -> Iterator[VisitEvent]:
    """Claim ``action`` on ``visit`` from version ``expected``, let the caller do its work,
    then emit the event. If the work raises, the claim is undone with the transaction.

    ``expected`` may be None only for changes that do not make a new version.
    """
    rule = TRANSITIONS[action]
    if visit.status not in rule.sources:
        raise refusal(visit, action)
    if expected is None and rule.new_version:
        raise ValueError(f"{action} makes a new version: say which version it is made from")
    moment = at or utcnow()
    previous = visit.status
    change = VisitEvent(action, visit, actor, previous, moment, details=dict(details))
    change.child_ids = {row.child_id for row in visit.children}
    _claim(visit, action, expected, moment)
    if action is Action.ESCALATE:
        visit.escalated_at = moment
    elif action in (Action.SUBMIT, Action.AMEND):
        visit.escalated_at = None
    try:
        yield change
    except BaseException:
        db.session.expire(visit)
        raise
    change.child_ids |= {row.child_id for row in visit.children if row.child_id}
    if action is Action.ADD_EVIDENCE and created_here(visit):
        db.session.info.setdefault(EVIDENCED, WeakSet()).add(visit)
    visit_changed.send(change)


def init_app(app: Flask) -> None:
    """Forget, with each transaction, which visits it created."""
    if not event.contains(Session, "after_commit", _forget_created):
        event.listen(Session, "after_commit", _forget_created)
        event.listen(Session, "after_rollback", _forget_created)
        new_rows.init_session_events()
