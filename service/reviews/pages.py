"""The review queue and the decision on a visit, for supervisors and managers.

The queue is ``operations.queue_query`` (the API's), annotated with its flags; the decision is
``operations.review_visit`` with the ETag the visit page was rendered from, so a decision is
never made on a version the reviewer has not seen.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask import Response, flash, g, redirect, request, url_for
from sqlalchemy import select

from service.audit.events import Action
from service.auth.models import User
from service.columns import whole_number
from service.database import keep_changes_on_error
from service.errors import (
    Conflict,
    DomainError,
    Forbidden,
    PreconditionFailed,
    PreconditionRequired,
    ValidationFailed,
)
from service.extensions import db
from service.pages import PageBlueprint, render
from service.paging import carried_query, count_of, page_number
from service.reviews import operations
from service.reviews.models import DECISIONS
from service.reviews.reading import REVIEWERS, read_visit
from service.visits import labels
from service.visits.labels import VALUES
from service.visits.models import Visit

blp = PageBlueprint("reviews_pages", __name__)

PAGE_SIZE = 25
FLAGS = tuple(operations.FLAG_CONDITIONS)
STALE = "This visit changed since you opened it. Read it again below, then make your decision."
# Where each error of the operation belongs on the form (its first input, for the summary).
ERROR_FIELDS = {
    "decision": "decision",
    "comment": "comment",
    "management_decision": "management-action",
    "management_decision.action": "management-action",
    "management_decision.due_by": "management-due-by-day",
}


def _queue_filters(args: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The filters as given, and an error for each that is not valid (that one is ignored)."""
    filters: dict[str, Any] = {"worker_id": None, "flag": None, "older_than_days": None}
    errors: dict[str, str] = {}
    if args.get("worker"):
        try:
            filters["worker_id"] = uuid.UUID(args["worker"])
        except ValueError:
            errors["worker"] = "Choose a worker from the list."
    if args.get("flag"):
        if args["flag"] in FLAGS:
            filters["flag"] = args["flag"]
        else:
            errors["flag"] = "Choose a flag from the list."
    older = args.get("older_than_days", "").strip()
    if older:
        days = whole_number(older, 3650)
        if days is not None:
            filters["older_than_days"] = days
        else:
            errors["older_than_days"] = "Enter a whole number of days, from 0 to 3650."
    return filters, errors


def page_links(current: int, pages: int) -> list[int | None]:
    """The page numbers to link to: the first, the last and two either side of the current one;
    None where pages are left out.
    """
    shown = sorted({1, pages} | set(range(max(1, current - 2), min(pages, current + 2) + 1)))
    links: list[int | None] = []
    for number in shown:
        if links and number - (links[-1] or 0) > 1:
            links.append(None)
        links.append(number)
    return links


@blp.get("/reviews")
@blp.in_navigation("Review queue", *REVIEWERS)
@blp.signin_required(*REVIEWERS)
def queue() -> Response:
    """The review queue: visits of my teams awaiting a decision, the longest wait first, with
    their flags, counts by flag, and filters by worker, flag and days waiting.
    """
    filters, errors = _queue_filters(request.args)
    query = operations.queue_query(g.user, filters)
    total = count_of(query)
    pages = max(1, -(-total // PAGE_SIZE))
    number = min(page_number(request.args), pages)
    visits = operations.annotate(
        list(db.session.scalars(query.limit(PAGE_SIZE).offset((number - 1) * PAGE_SIZE)))
    )
    unflagged = {**filters, "flag": None}
    counts = {
        flag: count_of(operations.queue_query(g.user, {**unflagged, "flag": flag}))
        for flag in FLAGS
    }
    everyone = operations.queue_query(g.user, {}).with_only_columns(Visit.worker_id).order_by(None)
    workers = db.session.execute(
        select(User.id, User.display_name).where(User.id.in_(everyone)).order_by(User.display_name)
    ).all()
    kept: dict[str, Any] = {key: value for key, value in carried_query("page").items() if value}
    return render(
        "desk/reviews/queue.html",
        shows=visits,
        action=Action.LIST,
        visits=visits,
        total=total,
        counts=counts,
        workers=workers,
        filters=filters,
        chosen=request.args,
        errors=errors,
        page=number,
        pages=pages,
        page_links=page_links(number, pages),
        page_url=lambda n: url_for("reviews_pages.queue", **kept, page=n),
        flags=FLAGS,
        flag_labels=VALUES["flag"],
        labels=labels,
    )


class DecisionForm:
    """The decision as posted: its fields as typed, the body for the operation, and the errors
    of shape (the rules themselves are the operation's).
    """

    def __init__(self, form: Any, wants_management_decision: bool) -> None:
        self.values = {
            name: form.get(name, "")
            for name in (
                "decision",
                "comment",
                "management_action",
                "due_day",
                "due_month",
                "due_year",
                "etag",
            )
        }
        self.wants_management_decision = wants_management_decision
        self.errors: dict[str, str] = {}
        self.body = self._body()

    def _body(self) -> dict[str, Any]:
        decision = self.values["decision"]
        if decision not in DECISIONS:
            self.errors["decision"] = "Choose approve, return or escalate."
        comment = self.values["comment"].strip()
        if len(comment) > 5000:
            self.errors["comment"] = "The comment must be 5,000 characters or fewer."
        body: dict[str, Any] = {"decision": decision, "comment": comment or None}
        if self.wants_management_decision:
            body["management_decision"] = self._management_decision()
        return body

    def _management_decision(self) -> dict[str, Any] | None:
        action = self.values["management_action"].strip()
        typed = [self.values[name].strip() for name in ("due_day", "due_month", "due_year")]
        if not action and not any(typed):
            return None  # the operation says whether one is required
        if not 3 <= len(action) <= 2000:
            self.errors["management-action"] = "Say what happens next, in 3 to 2,000 characters."
        day, month, year = (whole_number(part, 9999) for part in typed)
        try:
            if day is None or month is None or year is None:
                raise ValueError(typed)
            due_by = date(year, month, day)
        except ValueError:
            self.errors["management-due-by-day"] = "Enter the date it is due by, as a real date."
            return None
        return {"action": action, "due_by": due_by}


def _errors_of(error: DomainError) -> dict[str, str]:
    """The operation's refusal, against the field it is about; its sentence when it names one."""
    if not error.errors:
        return {"decision": error.detail}
    if len(error.errors) == 1:
        (name,) = error.errors
        return {ERROR_FIELDS.get(name, "decision"): error.detail}
    return {
        ERROR_FIELDS.get(name, "decision"): " ".join(messages)
        if isinstance(messages, list)
        else str(messages)
        for name, messages in error.errors.items()
    }


@blp.post("/visits/<uuid:visit_id>/review")
@blp.signin_required(*REVIEWERS)
def decide(visit_id: uuid.UUID) -> Any:
    """Approve, return (with a comment) or escalate the visit, as of the version the page showed;
    with the management decision when a child was not seen. Errors re-show the visit page.
    """
    reading = read_visit(g.user, visit_id)
    form = DecisionForm(request.form, reading.needs_management_decision)
    errors, status = form.errors, 422
    if not errors:
        try:
            review, _ = operations.review_visit(
                g.user, visit_id, form.body, form.values["etag"] or None
            )
        except (PreconditionFailed, PreconditionRequired):
            errors, status = {"decision": STALE}, 409
        except ValidationFailed as error:
            errors = _errors_of(error)
        except (Forbidden, Conflict) as error:
            errors, status = {"decision": error.detail}, error.status
        else:
            words = VALUES["decision"][review.decision]
            flash(f"{words}: the visit on {reading.visit.case.core_ref}.", "success")
            return redirect(url_for("reviews_pages.queue"))
        db.session.rollback()  # nothing of the refused decision stays...
        keep_changes_on_error()  # ...but the page re-shown is recorded as read
        reading = read_visit(g.user, visit_id)
    values = dict(form.values, etag=reading.etag) if status == 409 else form.values
    return render(
        "desk/visits/visit.html",
        status=status,
        shows=reading.shows,
        reading=reading,
        form=values,
        errors=errors,
        labels=labels,
    )
