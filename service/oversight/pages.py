"""Oversight pages: the overdue list, a child's chronology, the dashboard, the inspection lists.

Each asks the same operations and policy as the API (``oversight.operations``, ``chronology``,
``cases.operations.get_child``); what a page shows of a child is audited by ``render``.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, current_app, g, request
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import select

from service.audit.events import Action, Subject
from service.audit.trail import record
from service.auth.models import Team, User
from service.cases.models import Case
from service.cases.operations import get_child, is_overdue
from service.columns import utcnow, uuid_or_none, whole_number
from service.extensions import db
from service.oversight import chronology, dashboard, inspection, operations, wording
from service.pages import PageBlueprint, download, render
from service.policy import case_scope
from service.timescales import PLAN_TYPES, local_date
from service.visits import labels

blp = PageBlueprint("oversight_pages", __name__)

OVERSEERS = ("supervisor", "manager")
PAGE_SIZE = 50
# The page's orders, each one of the overdue operation's: two columns read the same order
# (most overdue first is earliest due first), each with its own name so one header is current.
ORDERS = {
    "overdue_most": ("most_overdue", "Most overdue first"),
    "overdue_least": ("least_overdue", "Least overdue first"),
    "due_earliest": ("most_overdue", "Next due, earliest first"),
    "due_latest": ("least_overdue", "Next due, latest first"),
    "name": ("name", "Name, A to Z"),
    "name_desc": ("name_desc", "Name, Z to A"),
}


def _zone() -> str:
    return str(current_app.config["LOCAL_TIMEZONE"])


def _overdue_query() -> tuple[dict[str, Any], dict[str, str], str]:
    """The overdue filters from the GET form (a value that is not one of the choices is no
    filter), the query to keep in links, and the order.
    """
    team_id = uuid_or_none(request.args.get("team"))
    worker_id = uuid_or_none(request.args.get("worker"))
    plan = request.args.get("plan") if request.args.get("plan") in PLAN_TYPES else None
    order = request.args.get("order", "overdue_most")
    order = order if order in ORDERS else "overdue_most"
    filters = {"team_id": team_id, "worker_id": worker_id, "plan_type": plan}
    query = {
        key: str(value)
        for key, value in (("team", team_id), ("worker", worker_id), ("plan", plan))
        if value
    }
    return filters, {**query, "order": order}, order


def _rows_for_page(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    zone = _zone()
    for row in rows:
        last = row["last_seen_at"]
        row["last_seen_on"] = local_date(last, zone) if last else None
    return rows


def _overdue_subjects(rows: list[dict[str, Any]]) -> list[Subject]:
    return [Subject("overdue", row["child_id"], row["child_id"]) for row in rows]


@blp.get("/overdue")
@blp.in_navigation("Overdue visits", *OVERSEERS)
@blp.signin_required(*OVERSEERS)
def overdue() -> Any:
    """Children in your scope overdue a statutory visit: filter by team, worker and plan type,
    sort by days overdue, next due or name, a page of 50 at a time.
    """
    filters, query, order = _overdue_query()
    page = whole_number(request.args.get("page"), 99_999) or 1
    pagination = PaginationParameters(page, PAGE_SIZE)
    rows = operations.overdue_page(g.user, filters, pagination, ORDERS[order][0])
    pages = max(1, -(-pagination.item_count // PAGE_SIZE))
    teams = db.session.scalars(
        select(Team)
        .where(Team.id.in_(select(Case.team_id).where(case_scope(g.user))))
        .order_by(Team.display_name)
    ).all()
    workers = db.session.scalars(
        select(User)
        .where(User.id.in_(select(Case.allocated_worker_id).where(case_scope(g.user))))
        .order_by(User.display_name)
    ).all()
    return render(
        "desk/oversight/overdue.html",
        shows=_overdue_subjects(rows),
        wide=True,
        action=Action.LIST,
        rows=_rows_for_page(rows),
        pagination=pagination,
        page=page,
        pages=pages,
        query=query,
        order=order,
        filtered=any(filters.values()),
        teams=teams,
        workers=workers,
        plan_types=PLAN_TYPES,
        plan_labels=wording.PLAN_LABELS,
        order_labels={key: label for key, (_, label) in ORDERS.items()},
        day_text=wording.day_text,
    )


@blp.get("/overdue.csv")
@blp.signin_required(*OVERSEERS)
def overdue_csv() -> Any:
    """The overdue list with the same filters and order, every row, as CSV."""
    filters, _, order = _overdue_query()
    rows = list(operations.overdue_rows(g.user, filters, ORDERS[order][0]))
    record(Action.EXPORT, _overdue_subjects(rows), format="csv")
    return download("overdue.csv", [operations.overdue_as_csv(rows, _zone())], "text/csv")


@blp.get("/children/<uuid:child_id>")
@blp.signin_required("social_worker", *OVERSEERS)
def child(child_id: uuid.UUID) -> Any:
    """A child's chronology, printable as a case-file document; out of scope is a 404."""
    found = get_child(g.user, child_id)
    entries = chronology.chronology(found)
    zone = _zone()
    now = utcnow()
    last = found.last_statutory_seen_at
    return render(
        "desk/oversight/child.html",
        shows=[Subject("chronology", found.id, found.id)],
        wide=True,
        child=found,
        entries=entries,
        overdue=is_overdue(found),
        last_statutory_seen=local_date(last, zone) if last else None,
        printed_at=wording.day_text(local_date(now, zone)),
        printed_by=g.user.display_name,
        plan_labels=wording.PLAN_LABELS,
        day_text=wording.day_text,
        when_text=lambda moment: wording.moment_text(moment, zone),
        kind_labels=wording.KIND_LABELS,
        value_label=labels.value_label,
    )


@blp.get("/children/<uuid:child_id>/chronology.csv")
@blp.signin_required("social_worker", *OVERSEERS)
def child_csv(child_id: uuid.UUID) -> Any:
    """The child's chronology as CSV, as the API gives it."""
    found = get_child(g.user, child_id)
    record(Action.READ, Subject("chronology", found.id, found.id), format="csv")
    text = chronology.as_csv(chronology.chronology(found))
    return download(f"chronology-{found.id}.csv", [text], "text/csv")


@blp.get("/dashboard")
@blp.in_navigation("Dashboard", *OVERSEERS)
@blp.signin_required(*OVERSEERS)
def dashboard_page() -> Any:
    """Each team's last twelve months as small charts with their numbers in tables."""
    figures = dashboard.dashboard(g.user)
    teams = figures["teams"]
    late = dashboard.series_of(teams, "late_recordings")
    late_top, late_ticks = dashboard.count_scale(late)
    return render(
        "desk/oversight/dashboard.html",
        shows=[Subject("summary", None)],
        wide=True,
        scope_name="All teams" if g.user.role == "manager" else "Your teams",
        labels=[dashboard.month_label(month) for month in figures["months"]],
        teams=teams,
        summary=operations.summary(g.user, 365),
        in_time=dashboard.series_of(teams, "in_time_pct"),
        seen_alone=dashboard.series_of(teams, "seen_alone_pct"),
        late=late,
        late_top=late_top,
        late_ticks=late_ticks,
        waits=[{"name": item.name, "values": item.waits} for item in teams],
        wait_bands=figures["wait_bands"],
    )


@blp.get("/inspection")
@blp.in_navigation("Inspection lists", *OVERSEERS)
@blp.signin_required(*OVERSEERS)
def inspection_page() -> Any:
    """Ofsted Annex A lists 6 to 9: how many children each holds, and the downloads."""
    lists = [
        {"list": item, "count": len(inspection.list_rows(g.user, item))}
        for item in inspection.LISTS.values()
    ]
    return render("desk/oversight/inspection.html", shows=[Subject("annex_a", None)], lists=lists)


@blp.get("/inspection/list-<int:number>.<extension>")
@blp.signin_required(*OVERSEERS)
def inspection_list(number: int, extension: str) -> Any:
    """One Annex A list, as CSV or XLSX."""
    annex_list = inspection.LISTS.get(number)
    if annex_list is None or extension not in ("csv", "xlsx"):
        abort(404)
    rows = inspection.list_rows(g.user, annex_list)
    record(Action.EXPORT, [Subject("annex_a", row.child_id, row.child_id) for row in rows])
    name = f"annex-a-list-{number}.{extension}"
    if extension == "csv":
        return download(name, [inspection.as_csv(annex_list, rows)], "text/csv")
    return download(name, [inspection.as_xlsx([(annex_list, rows)])], XLSX)


@blp.get("/inspection/annex-a.xlsx")
@blp.signin_required(*OVERSEERS)
def inspection_workbook() -> Any:
    """Lists 6 to 9 in one workbook, a sheet each."""
    sheets = [(item, inspection.list_rows(g.user, item)) for item in inspection.LISTS.values()]
    record(
        Action.EXPORT,
        [Subject("annex_a", row.child_id, row.child_id) for _, rows in sheets for row in rows],
    )
    return download("annex-a-lists-6-9.xlsx", [inspection.as_xlsx(sheets)], XLSX)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
