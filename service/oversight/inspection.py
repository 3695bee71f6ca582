"""Ofsted's Annex A lists 6 to 9, their visit columns, for the children in the caller's scope.

A council's performance team builds Annex A from its core-system extract; these lists give it
the visit facts this service holds, keyed by the core system's person id so the two join.

The headings are Annex A's own words. They come from Ofsted's ILACS "Annex A" data request
template, as the sector's Annex A tools transcribe it (Social Finance's liia-tools
``Annex_A_schema.yml`` and Data to Insight's Standard Safeguarding Dataset Annex A queries),
and DESIGN.md §10: "Child Unique ID"; List 6 "Date Child Was Last Seen"; List 7 "Date of the
Last Statutory Visit" and "Was the Child Seen Alone?" (``a) Yes`` / ``b) No`` / ``c) Unknown``);
List 8 "Date of Last Social Work Visit"; List 9 "Latest Date of Contact". Annex A writes dates
as dd/mm/yyyy.

Every date is read from the record (DESIGN.md §9): the children's derived dates, recomputed
from the latest submitted version of every visit, never from a draft.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from sqlalchemy import case, exists, func, or_, select

from service.auth.models import User
from service.cases.models import Case, Child, case_children
from service.cases.operations import today
from service.extensions import db
from service.oversight.chronology import spreadsheet_safe
from service.policy import case_scope
from service.timescales import local_date
from service.visits.derived import counts_for_timescales
from service.visits.models import RecordedChild

CHILD_UNIQUE_ID = "Child Unique ID"
SEEN_ALONE = {True: "a) Yes", False: "b) No", None: "c) Unknown"}
DATE_FORMAT = "%d/%m/%Y"
XLSX_DATE_FORMAT = "DD/MM/YYYY"
# Annex A lists the children on a plan at the inspection and those whose plan ended in the
# six months before it; a case closed within that time keeps its children on the list.
CLOSED_WITHIN = timedelta(days=183)


@dataclass(frozen=True)
class AnnexAList:
    """One of Annex A's lists: which children it holds and the visit columns we fill."""

    number: int
    title: str
    plan_type: str
    visit_headings: tuple[str, ...]

    @property
    def headings(self) -> tuple[str, ...]:
        """Every heading, the child's identifier first."""
        return (CHILD_UNIQUE_ID, *self.visit_headings)

    @property
    def name(self) -> str:
        """The list's name as Annex A gives it, e.g. "List 6: Children in need"."""
        return f"List {self.number}: {self.title}"


LISTS: dict[int, AnnexAList] = {
    item.number: item
    for item in (
        AnnexAList(6, "Children in need", "child_in_need", ("Date Child Was Last Seen",)),
        AnnexAList(
            7,
            "Child protection",
            "child_protection",
            ("Date of the Last Statutory Visit", "Was the Child Seen Alone?"),
        ),
        AnnexAList(8, "Children in care", "looked_after", ("Date of Last Social Work Visit",)),
        AnnexAList(9, "Care leavers", "care_leaver", ("Latest Date of Contact",)),
    )
}


@dataclass(frozen=True)
class ListRow:
    """One child on a list: their core-system id and the list's visit columns, as values."""

    child_id: Any
    values: tuple[Any, ...]


def _on_list_in_scope(user: User, as_of: date) -> Any:
    """The child is on a case in the caller's scope that is open or closed within six months."""
    return exists(
        select(case_children.c.case_id)
        .join(Case, Case.id == case_children.c.case_id)
        .where(
            case_children.c.child_id == Child.id,
            case_scope(user),
            or_(Case.status == "open", Case.closed_on >= as_of - CLOSED_WITHIN),
        )
    )


def _seen_alone_at_last_statutory_visit() -> Any:
    """Whether the child was seen alone at the visit their last statutory visit date is from
    (two counted visits at the same moment: alone at either is alone).
    """
    return (
        select(func.max(case((RecordedChild.seen_alone.is_(True), 1), else_=0)))
        .where(
            RecordedChild.child_id == Child.id,
            counts_for_timescales(),
            RecordedChild.started_at == Child.last_statutory_seen_at,
        )
        .correlate(Child)
        .scalar_subquery()
    )


def list_rows(user: User, annex_list: AnnexAList) -> list[ListRow]:
    """The children on ``annex_list`` in ``user``'s scope, by Child Unique ID, with the values.

    - Lists 6, 7 and 8: the date of the latest statutory visit at which the child was seen
      (the visit their timescales count from; a visit where they were not seen is no visit).
    - List 7: whether they were seen alone at it; ``c) Unknown`` when there is no such visit.
    - List 9, "contact" with a care leaver: the latest submitted visit of any type at which the
      young person was seen, statutory or not (a pathway plan review with them is contact; a
      visit where they were not seen is an attempt, not contact). Calls, texts and messages are
      not recorded here, so the core system may hold a later contact.
    """
    as_of = today()
    zone = current_app.config["LOCAL_TIMEZONE"]
    alone = _seen_alone_at_last_statutory_visit()
    columns = (Child.id, Child.core_person_ref, Child.last_statutory_seen_at, Child.last_seen_at)
    rows = db.session.execute(
        select(*columns, alone)
        .where(Child.plan_type == annex_list.plan_type, _on_list_in_scope(user, as_of))
        .order_by(Child.core_person_ref)
    )

    def day(moment: datetime | None) -> date | None:
        return local_date(moment, zone) if moment else None

    result = []
    for child_id, person_ref, last_statutory, last_seen, seen_alone in rows:
        if annex_list.number == 9:
            values: tuple[Any, ...] = (person_ref, day(last_seen))
        elif annex_list.number == 7:
            alone_answer = None if last_statutory is None else bool(seen_alone)
            values = (person_ref, day(last_statutory), SEEN_ALONE[alone_answer])
        else:
            values = (person_ref, day(last_statutory))
        result.append(ListRow(child_id, values))
    return result


def as_csv(annex_list: AnnexAList, rows: Iterable[ListRow]) -> str:
    """The list as CSV: Annex A's headings, dates as dd/mm/yyyy, no cell able to run as a
    formula in a spreadsheet.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(annex_list.headings)
    for row in rows:
        writer.writerow([_csv_value(value) for value in row.values])
    return out.getvalue()


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.strftime(DATE_FORMAT)
    return spreadsheet_safe(str(value))


def as_xlsx(sheets: Sequence[tuple[AnnexAList, Iterable[ListRow]]]) -> bytes:
    """One workbook with a sheet per list ("List 6" ...), headings in the first row, dates as
    real date cells shown dd/mm/yyyy, and every text cell stored as text (never a formula).

    Written in openpyxl's write-only mode, which streams rows rather than holding a cell
    object per value.
    """
    workbook = Workbook(write_only=True)
    for annex_list, rows in sheets:
        sheet = workbook.create_sheet(title=f"List {annex_list.number}")
        sheet.append([_text_cell(sheet, heading) for heading in annex_list.headings])
        for row in rows:
            sheet.append([_xlsx_cell(sheet, value) for value in row.values])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _text_cell(sheet: Any, text: str) -> Cell:
    cell = WriteOnlyCell(sheet, value=text)
    # openpyxl reads a string starting "=" as a formula; an identifier from another system
    # must stay what it says.
    cell.data_type = "s"
    return cell


def _xlsx_cell(sheet: Any, value: Any) -> Any:
    if isinstance(value, date):
        # A date serial with no time of day; the stubs name only datetime.
        cell = WriteOnlyCell(sheet, value=value)  # type: ignore[arg-type]
        cell.number_format = XLSX_DATE_FORMAT
        return cell
    if value is None:
        return None
    return _text_cell(sheet, str(value))
