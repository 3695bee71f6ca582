"""Care-leaver feedback for managers at their desks: the list (urgent first), one response with
its triage and the history of its notes, and the monthly summary with small numbers hidden.

The same operations as the API's ``/feedback`` views, for the same role (managers only). A
response's contact details are shown only on its own page, and that showing is in the trail.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import flash, g, redirect, request, url_for

from service.audit.events import Action, Subject
from service.audit.trail import record
from service.columns import is_storable, whole_number
from service.feedback import operations
from service.feedback.models import CHOICES, SCALES, TRIAGE_NOTE_MAX, TRIAGE_STATUSES, Feedback
from service.feedback.text import words
from service.local_time import local_time
from service.pages import PageBlueprint, render, subjects_of
from service.paging import page_number, page_of, page_url

blp = PageBlueprint("feedback_desk", __name__)

MANAGERS = ("manager",)
URGENT_FILTER = {"": None, "yes": True, "no": False}
SUMMARY_MONTHS = (3, 6, 12, 24, 36)
STATUS_LABELS = {"new": "New", "contacted": "Contacted", "closed": "Closed"}


def _list_filters() -> tuple[dict[str, Any], dict[str, str]]:
    """The list's filters from the query string, and an error for each unusable one."""
    status = request.args.get("status", "")
    urgent = request.args.get("urgent", "")
    errors = {}
    if status and status not in TRIAGE_STATUSES:
        errors["status"] = "Choose a status from the list"
    if urgent not in URGENT_FILTER:
        errors["urgent"] = "Choose urgent, not urgent or either"
    filters = {"status": status or None, "urgent": URGENT_FILTER.get(urgent)}
    return filters, errors


@blp.get("/feedback")
@blp.in_navigation("Care-leaver feedback", *MANAGERS)
@blp.signin_required(*MANAGERS)
def feedback_list() -> Any:
    """Responses for triage, urgent first, then newest, filtered by status and urgency."""
    filters, errors = _list_filters()
    listed = None
    if not errors:
        listed = page_of(operations.feedback_query(filters), page_number(request.args))
    return render(
        "desk/feedback/list.html",
        status=400 if errors else 200,
        shows=listed.rows if listed else [],
        action=Action.LIST,
        listed=listed,
        page_url=page_url,
        errors=errors,
        chosen={"status": request.args.get("status", ""), "urgent": request.args.get("urgent", "")},
        statuses=STATUS_LABELS,
        local_time=local_time,
    )


def _answers(feedback: Feedback) -> list[tuple[str, str]]:
    """Each question the response answered and its answer, in the form's words and order."""
    text = words("en")
    answered: list[tuple[str, str]] = []
    for name in SCALES:
        value = getattr(feedback, name)
        answered.append((text[name], "Not answered" if value is None else f"{value} out of 10"))
    for name in CHOICES:
        value = getattr(feedback, name)
        answered.append((text[name], "Not answered" if value is None else text[value]))
    return answered


def _shown_of(feedback: Feedback) -> list[Subject]:
    """What the item page shows: the response, and its contact details when it has them."""
    shown = list(subjects_of([feedback]))
    if feedback.contact_name or feedback.contact_detail:
        shown.append(Subject("feedback_contact", feedback.id, feedback.child_id))
    return shown


def _item_page(
    feedback: Feedback,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> Any:
    return render(
        "desk/feedback/item.html",
        status=status,
        shows=_shown_of(feedback),
        feedback=feedback,
        answers=_answers(feedback),
        history=operations.triage_history(feedback.id),
        statuses=STATUS_LABELS,
        errors=errors or {},
        form=form or {"status": feedback.triage_status, "note": ""},
        note_max=TRIAGE_NOTE_MAX,
        local_time=local_time,
    )


@blp.get("/feedback/<uuid:feedback_id>")
@blp.signin_required(*MANAGERS)
def feedback_item(feedback_id: uuid.UUID) -> Any:
    """One response: its answers, contact details if given, triage and the history of notes."""
    return _item_page(operations.get_feedback(feedback_id))


def _triage_errors(status: str, note: str) -> dict[str, str]:
    errors = {}
    if status not in TRIAGE_STATUSES:
        errors["status"] = "Choose where this response is in triage"
    if len(note) > TRIAGE_NOTE_MAX:
        errors["note"] = f"Use {TRIAGE_NOTE_MAX:,} characters or fewer"
    elif not is_storable(note):
        errors["note"] = "Type the note again: it has a hidden character that cannot be saved"
    return errors


@blp.post("/feedback/<uuid:feedback_id>/triage")
@blp.signin_required(*MANAGERS)
def triage(feedback_id: uuid.UUID) -> Any:
    """Move a response through triage with a note; the note joins the history, never replaces."""
    status = request.form.get("status", "")
    note = request.form.get("note", "").strip()
    errors = _triage_errors(status, note)
    if errors:
        feedback = operations.get_feedback(feedback_id)
        form = {"status": status, "note": note if is_storable(note) else ""}
        return _item_page(feedback, status=400, errors=errors, form=form)
    feedback = operations.triage(g.user, feedback_id, status, note or None)
    record(Action.TRIAGE, subjects_of([feedback]), changed_fields=("status", "note"))
    flash(f"Triage saved: {STATUS_LABELS[status].lower()}.", "success")
    return redirect(url_for("feedback_desk.feedback_item", feedback_id=feedback_id))


@blp.get("/feedback/summary")
@blp.in_navigation("Feedback summary", *MANAGERS)
@blp.signin_required(*MANAGERS)
def feedback_summary() -> Any:
    """Averages and answers by month; a month or an answer given by too few is not shown."""
    given = request.args.get("months", "12")
    months = number if (number := whole_number(given)) in SUMMARY_MONTHS else 12
    text = words("en")
    return render(
        "desk/feedback/summary.html",
        shows=[Subject("feedback_summary", None)],
        months=months,
        month_choices=SUMMARY_MONTHS,
        summary=operations.summary(months),
        smallest=operations.SMALLEST_GROUP,
        scales=[(name, text[name]) for name in SCALES],
        choices=[
            (name, text[name], [(option, text[option]) for option in options])
            for name, options in CHOICES.items()
        ],
    )
