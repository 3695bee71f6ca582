"""Lists on the desk pages, a page at a time: the rows of one page and where the others are.

The API pages with flask-smorest's ``X-Pagination`` header; a page in a browser needs the same
LIMIT/OFFSET and the numbers to draw "Previous" and "Next" links.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import request, url_for
from sqlalchemy import Select, func, select

from service.columns import whole_number
from service.extensions import db

PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    """One page of a list: its rows, its number (from 1), its size and the whole list's length."""

    rows: list[Any]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages the list has (at least one, even when it is empty)."""
        return max(1, -(-self.total // self.size))

    @property
    def first_shown(self) -> int:
        """The position (from 1) of the page's first row; 0 for an empty page."""
        return (self.number - 1) * self.size + 1 if self.rows else 0

    @property
    def last_shown(self) -> int:
        """The position of the page's last row."""
        return self.first_shown + len(self.rows) - 1 if self.rows else 0


def page_number(arguments: Mapping[str, str]) -> int:
    """The page asked for in the query string (``page``); the first for anything unusable."""
    given = arguments.get("page", "")
    return whole_number(given, 999_999) or 1


def count_of(query: Select[*tuple[Any, ...]]) -> int:
    """How many rows ``query`` selects."""
    return int(
        db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    )


def page_of(
    query: Select[*tuple[Any, ...]], number: int, size: int = PAGE_SIZE, *, columns: bool = False
) -> Page:
    """Run one page of ``query``: model instances, or tuples of several ``columns``."""
    total = count_of(query)
    offset = (number - 1) * size
    if offset >= total:
        return Page([], number, size, total)
    chosen = query.limit(size).offset(offset)
    rows = list(db.session.execute(chosen).all()) if columns else list(db.session.scalars(chosen))
    return Page(rows, number, size, total)


def carried_query(*dropping: str) -> dict[str, Any]:
    """The query string's arguments, to carry the same filters to another address.

    Never one named as a path argument of the page (``?child_id=`` on a child's page) or as one
    of ``url_for``'s own (``_scheme``, ``_external``...): given twice, ``url_for`` fails, a 500.
    Nor any named in ``dropping``.
    """
    taken = set(request.view_args or {}) | set(dropping)
    return {
        key: value
        for key, value in request.args.items()
        if key not in taken and not key.startswith("_")
    }


def page_url(number: int) -> str:
    """The address of page ``number`` of the list being shown, with the same filters."""
    arguments: dict[str, Any] = {**carried_query("page"), "page": str(number)}
    return url_for(str(request.endpoint), **(request.view_args or {}), **arguments)
