"""The rules a visit must satisfy: some on every save, all of them before it can be submitted.

Each function returns ``{field path: [messages]}``; empty means the visit passes. Paths follow the
request body (``children.0.not_seen_reason``) so the tablet can put each message by its field.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from service.cases.models import Case
from service.visits.models import Visit
from service.visits.record import has_views

# Tablet clocks drift; a visit "starting" a couple of minutes from now is a clock, not the future.
CLOCK_SKEW = timedelta(minutes=5)
# No visit recorded here happened before the service's records begin.
EARLIEST_VISIT = datetime(2000, 1, 1, tzinfo=UTC)

Errors = dict[str, list[str]]


def draft_errors(case: Case, body: dict[str, Any], now: datetime) -> Errors:
    """Rules every save must meet: real dates, and only children of the visit's case, born by
    the time of the visit.
    """
    errors: defaultdict[str, list[str]] = defaultdict(list)
    started, ended = body["started_at"], body.get("ended_at")
    _check_times(errors, started, ended, now)
    born = {child.id: child.date_of_birth for child in case.children}
    for index, entry in enumerate(body["children"]):
        if entry["child_id"] not in born:
            errors[f"children.{index}.child_id"].append("This child is not on the visit's case.")
        elif (birth := born[entry["child_id"]]) is not None and started.date() < birth:
            errors[f"children.{index}.child_id"].append(
                "The visit starts before this child was born; check the date."
            )
    return dict(errors)


def submission_errors(
    visit: Visit, snapshot: Mapping[str, Any], case_child_ids: Iterable[Any], now: datetime
) -> Errors:
    """Every rule in DESIGN.md §4 "Rules a submitted visit must satisfy", on the snapshot that
    would be kept: a drawing it holds for a child counts as that child's views.
    """
    errors: defaultdict[str, list[str]] = defaultdict(list)
    if visit.ended_at is None:
        errors["ended_at"].append("Say when the visit ended.")
    _check_times(errors, visit.started_at, visit.ended_at, now)
    on_case = {str(child_id) for child_id in case_child_ids}
    if not snapshot["children"]:
        errors["children"].append("Record at least one child.")
    for index, entry in enumerate(snapshot["children"]):
        prefix = f"children.{index}"
        if entry["child_id"] not in on_case:
            errors[f"{prefix}.child_id"].append("This child is not on the visit's case.")
        _check_child(errors, prefix, entry, has_views(entry, snapshot["evidence"]))
    return dict(errors)


def _check_times(
    errors: defaultdict[str, list[str]], started: datetime, ended: datetime | None, now: datetime
) -> None:
    if started < EARLIEST_VISIT:
        errors["started_at"].append("A visit recorded here cannot be before 2000.")
    if started > now + CLOCK_SKEW:
        errors["started_at"].append("A visit cannot start in the future.")
    if ended is not None:
        if ended <= started:
            errors["ended_at"].append("The visit must end after it started.")
        if ended > now + CLOCK_SKEW:
            errors["ended_at"].append("A visit cannot end in the future.")


def _check_child(
    errors: defaultdict[str, list[str]], prefix: str, entry: Mapping[str, Any], viewed: bool
) -> None:
    if entry["seen"] is None:
        errors[f"{prefix}.seen"].append("Say whether the child was seen.")
        return
    if not entry["seen"]:
        if not entry["not_seen_reason"]:
            errors[f"{prefix}.not_seen_reason"].append("Give the reason the child was not seen.")
        elif entry["not_seen_reason"] == "other" and not (entry["not_seen_detail"] or "").strip():
            errors[f"{prefix}.not_seen_detail"].append("Describe the reason when it is 'other'.")
        if entry.get("seen_alone"):
            errors[f"{prefix}.seen_alone"].append(
                "A child who was not seen cannot have been seen alone."
            )
        return
    # A record that contradicts itself is refused: the reason a seen child was "not seen".
    if entry["not_seen_reason"] or (entry.get("not_seen_detail") or "").strip():
        errors[f"{prefix}.not_seen_reason"].append(
            "Leave out why the child was not seen: they were seen."
        )
    if entry["seen_alone"] is None:
        errors[f"{prefix}.seen_alone"].append("Say whether the child was seen alone.")
    elif not entry["seen_alone"] and not entry["not_seen_alone_reason"]:
        errors[f"{prefix}.not_seen_alone_reason"].append(
            "Give the reason the child was not seen alone."
        )
    elif entry["seen_alone"] and (
        entry["not_seen_alone_reason"] or (entry.get("not_seen_alone_detail") or "").strip()
    ):
        errors[f"{prefix}.not_seen_alone_reason"].append(
            "Leave out why the child was not seen alone: they were seen alone."
        )
    not_gathered = ((entry["voice"] or {}).get("not_gathered_reason") or "").strip()
    if not viewed and not not_gathered:
        errors[f"{prefix}.voice"].append(
            "Record the child's views (own words, Three Houses, a scale or a drawing) "
            "or why they could not be gathered."
        )
    elif viewed and not_gathered:
        errors[f"{prefix}.voice.not_gathered_reason"].append(
            "Leave out why their views could not be gathered: their views are recorded."
        )
