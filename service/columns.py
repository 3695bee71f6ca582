"""Column types shared by the models."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, TypeDecorator

# No database stores these in text: PostgreSQL refuses NUL, and a lone surrogate is not UTF-8.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "Must not contain NUL characters or unpaired surrogates (U+D800-U+DFFF)."


DIGITS = re.compile("[0-9]{1,18}")


def whole_number(text: str | None, most: int = 10**18 - 1) -> int | None:
    """The number ``text`` spells in ASCII digits (``"007"`` is 7), if it is at most ``most``;
    None for anything else.

    ``str.isdigit`` is no check before ``int``: it is true of "²" (which int refuses), and of
    5,000 nines (which int refuses too, past 4,300 digits): each a 500. The length is bounded
    before any conversion.
    """
    value = (text or "").strip()
    if not DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if number <= most else None


def uuid_or_none(text: str | None) -> uuid.UUID | None:
    """The id ``text`` spells (a filter typed or chosen on a page); None for anything else."""
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


def is_storable(text: str) -> bool:
    """Whether ``text`` is free of NUL characters and lone surrogates, so it can be stored."""
    return UNSTORABLE.search(text) is None


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored in UTC; SQLite's naive values come back as UTC too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes and store everything in UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)
