"""The audit trail at a desk: the trail (filtered, a page at a time, or all of it as CSV), a
child's access log, and the unusual access report with each hit explained.

The same queries and the same roles as the API's ``/audit`` views (admins and managers). The
trail holds ids and field names, never content, so an admin, who sees no child records, may
read it and a child's access log exactly as the API lets them; these pages name children by id
only, as the API does. Each page is itself a read the trail records.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from flask import redirect, request, url_for

from service.audit import queries, unusual
from service.audit.events import Action, Subject
from service.audit.trail import record
from service.columns import is_storable, utcnow, uuid_or_none, whole_number
from service.local_time import local_time, start_of_day
from service.pages import PageBlueprint, download, render
from service.paging import carried_query, page_number, page_of, page_url

blp = PageBlueprint("audit_desk", __name__)

AUDITORS = ("admin", "manager")
ACTIONS = tuple(str(action) for action in Action)
TEXT_FILTERS = {"record_type": 30, "record_id": 64}
UNUSUAL_DAYS = (1, 7, 14, 30, 90)
EARLIEST, LATEST = date(1900, 1, 1), date(9998, 12, 31)
RULES = {
    "not_allocated": "Read a child not allocated to them",
    "out_of_hours": "Out of hours",
    "heavy_reader": "Far more children than usual",
    "dormant_reactivated": "A dormant account active again",
    "shared_surname": "A child who shares their surname",
    "refused": "Refused",
}


def _day(value: str) -> date | None:
    """A date typed in a filter; None for one that is no date, or that is too far off to be a
    day of the record (the day after 9999-12-31 is no date: an OverflowError, a 500).
    """
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return day if EARLIEST <= day <= LATEST else None


def _time_filters(errors: dict[str, str]) -> dict[str, Any]:
    """``since`` and ``until`` from dates in the query string: whole local days, both included."""
    found: dict[str, Any] = {"since": None, "until": None}
    for name in ("since", "until"):
        given = request.args.get(name, "").strip()
        if not given:
            continue
        day = _day(given)
        if day is None:
            errors[name] = f"Enter a real date between {EARLIEST} and {LATEST}, like 2026-11-27"
            continue
        found[name] = start_of_day(day + timedelta(days=1) if name == "until" else day)
    return found


def _trail_filters() -> tuple[dict[str, Any], dict[str, str]]:
    """The trail's filters (as GET /audit takes them), and an error for each unusable one."""
    errors: dict[str, str] = {}
    filters: dict[str, Any] = {}
    for name in ("actor_id", "child_id"):
        given = request.args.get(name, "").strip()
        filters[name] = uuid_or_none(given)
        if given and filters[name] is None:
            errors[name] = "Enter an id like 3f2b8c1e-5d4a-4b7e-9c1d-2a6f0e8b7c5d"
    for name, longest in TEXT_FILTERS.items():
        given = request.args.get(name, "").strip()
        if len(given) > longest or not is_storable(given):
            errors[name] = f"Use {longest} characters or fewer, letters, numbers and dashes"
        filters[name] = given or None
    action = request.args.get("action", "")
    if action and action not in ACTIONS:
        errors["action"] = "Choose an action from the list"
    filters["action"] = action or None
    filters.update(_time_filters(errors))
    return filters, errors


@blp.get("/audit")
@blp.in_navigation("Audit trail", *AUDITORS)
@blp.signin_required(*AUDITORS)
def audit_trail() -> Any:
    """Audit events, newest first, filtered as GET /audit filters them, a page at a time."""
    filters, errors = _trail_filters()
    query = queries.event_query(filters)
    listed = page_of(query, page_number(request.args)) if not errors else None
    events = listed.rows if listed else []
    return render(
        "desk/audit/trail.html",
        status=400 if errors else 200,
        shows=[Subject("audit_trail", None)],
        listed=listed,
        events=events,
        names=queries.actor_names(event.actor_id for event in events),
        unnamed_actor=queries.unnamed_actor,
        errors=errors,
        chosen=request.args,
        actions=ACTIONS,
        page_url=page_url,
        csv_url=url_for("audit_desk.audit_trail_csv", **carried_query()),
        local_time=local_time,
    )


@blp.get("/audit.csv")
@blp.signin_required(*AUDITORS)
def audit_trail_csv() -> Any:
    """Every event the filters match, as CSV, streamed in batches (no pages)."""
    filters, errors = _trail_filters()
    if errors:  # the trail page says what is wrong with them
        return redirect(url_for("audit_desk.audit_trail", **carried_query()))
    record(Action.EXPORT, Subject("audit_trail", None), format="csv")
    stamp = f"{utcnow():%Y%m%d-%H%M%S}"
    return download(
        f"audit-{stamp}.csv",
        queries.as_csv(queries.event_query(filters)),
        "text/csv",
        stream=True,
    )


@blp.get("/audit/access-log")
@blp.signin_required(*AUDITORS)
def find_access_log() -> Any:
    """From the trail page's box: the access log of the child whose id was typed."""
    given = request.args.get("child_id", "").strip()
    child_id = uuid_or_none(given)
    if child_id is None:  # the trail page says what is wrong with it
        return redirect(url_for("audit_desk.audit_trail", child_id=given[:100]))
    return redirect(url_for("audit_desk.child_access_log", child_id=child_id))


@blp.get("/children/<uuid:child_id>/access-log")
@blp.signin_required(*AUDITORS)
def child_access_log(child_id: uuid.UUID) -> Any:
    """Who looked at or changed this child's records, when and from which device, newest first.

    As the API's: every event naming the child, reads included; a child that never existed (or
    was purged) has an empty log.
    """
    errors: dict[str, str] = {}
    times = _time_filters(errors)
    listed = None
    if not errors:
        query = queries.access_log(child_id, times["since"], times["until"])
        listed = page_of(query, page_number(request.args), columns=True)
    entries = [queries.access_log_entry(*row) for row in listed.rows] if listed else []
    return render(
        "desk/audit/access_log.html",
        status=400 if errors else 200,
        shows=[Subject("access_log", child_id, child_id)],
        child_id=child_id,
        listed=listed,
        entries=entries,
        unnamed_actor=queries.unnamed_actor,
        errors=errors,
        chosen=request.args,
        page_url=page_url,
        local_time=local_time,
    )


@blp.get("/audit/unusual")
@blp.in_navigation("Unusual access", *AUDITORS)
@blp.signin_required(*AUDITORS)
def unusual_access() -> Any:
    """Unusual access in the last few days, oldest first, each hit explained, as the API's
    GET /audit/unusual reports it.
    """
    given = request.args.get("days", "7")
    days = number if (number := whole_number(given)) in UNUSUAL_DAYS else 7
    hits = unusual.report(utcnow() - timedelta(days=days))
    return render(
        "desk/audit/unusual.html",
        shows=[Subject("unusual_access", None)],
        hits=hits,
        days=days,
        day_choices=UNUSUAL_DAYS,
        rules=RULES,
        local_time=local_time,
    )
