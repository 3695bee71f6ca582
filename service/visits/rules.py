"""The rules a visit must satisfy: some on every save, all of them before it can be submitted.

Each function returns ``{field path: [messages]}``; empty means the visit passes. Paths follow the
request body (``children.0.not_seen_reason``) so the tablet can put each message by its field.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from service.cases.models import Case
from service.visits.models import Visit, VisitChild

# Tablet clocks drift; a visit "starting" a couple of minutes from now is a clock, not the future.
CLOCK_SKEW = timedelta(minutes=5)

Errors = dict[str, list[str]]


def draft_errors(case: Case, body: dict[str, Any], now: datetime) -> Errors:
    """Rules every save must meet: real dates, and only children of the visit's case."""
    errors: defaultdict[str, list[str]] = defaultdict(list)
    started, ended = body["started_at"], body.get("ended_at")
    _check_times(errors, started, ended, now)
    case_child_ids = {child.id for child in case.children}
    for index, entry in enumerate(body["children"]):
        if entry["child_id"] not in case_child_ids:
            errors[f"children.{index}.child_id"].append("This child is not on the visit's case.")
    return dict(errors)


def submission_errors(
    visit: Visit, case_child_ids: Iterable[Any], now: datetime, drew: Iterable[Any] = ()
) -> Errors:
    """Every rule in DESIGN.md §4 "Rules a submitted visit must satisfy".

    ``drew`` holds the ids of children with a drawing attached: their drawing is their view.
    """
    errors: defaultdict[str, list[str]] = defaultdict(list)
    if visit.ended_at is None:
        errors["ended_at"].append("Say when the visit ended.")
    _check_times(errors, visit.started_at, visit.ended_at, now)
    on_case, drawings = set(case_child_ids), set(drew)
    if not visit.children:
        errors["children"].append("Record at least one child.")
    for index, child in enumerate(visit.children):
        prefix = f"children.{index}"
        if child.child_id not in on_case:
            errors[f"{prefix}.child_id"].append("This child is not on the visit's case.")
        _check_child(errors, prefix, child, child.child_id in drawings)
    return dict(errors)


def _check_times(
    errors: defaultdict[str, list[str]], started: datetime, ended: datetime | None, now: datetime
) -> None:
    if started > now + CLOCK_SKEW:
        errors["started_at"].append("A visit cannot start in the future.")
    if ended is not None:
        if ended <= started:
            errors["ended_at"].append("The visit must end after it started.")
        if ended > now + CLOCK_SKEW:
            errors["ended_at"].append("A visit cannot end in the future.")


def _check_child(
    errors: defaultdict[str, list[str]], prefix: str, child: VisitChild, drew: bool
) -> None:
    if child.seen is None:
        errors[f"{prefix}.seen"].append("Say whether the child was seen.")
        return
    if not child.seen:
        if not child.not_seen_reason:
            errors[f"{prefix}.not_seen_reason"].append("Give the reason the child was not seen.")
        elif child.not_seen_reason == "other" and not (child.not_seen_detail or "").strip():
            errors[f"{prefix}.not_seen_detail"].append("Describe the reason when it is 'other'.")
        return
    if child.seen_alone is None:
        errors[f"{prefix}.seen_alone"].append("Say whether the child was seen alone.")
    elif not child.seen_alone and not child.not_seen_alone_reason:
        errors[f"{prefix}.not_seen_alone_reason"].append(
            "Give the reason the child was not seen alone."
        )
    has_views = child.has_views() or drew
    if not has_views and not (child.views_not_gathered_reason or "").strip():
        errors[f"{prefix}.voice"].append(
            "Record the child's views (own words, Three Houses, a scale or a drawing) "
            "or why they could not be gathered."
        )
