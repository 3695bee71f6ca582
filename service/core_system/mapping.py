"""The per-council mapping from our payload to the core system's codes, configured without code.

A mapping is JSON: how yes/no is written (``"Y"``/``"N"`` or ``true``/``false``), which
case-note type each visit type is (optionally per plan type: ``"statutory/child_protection"``),
which Standard Safeguarding Dataset table a plan type's visits belong in, and what that table's
fields are called. Built-in mappings live beside this module (``ssd``, ``lcs``, ``mosaic``,
``eclipse``); a council points ``CORE_SYSTEM_MAPPING`` at its own file instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from service.timescales import PLAN_TYPES

BUILT_IN = Path(__file__).with_name("mappings")
VISIT_TYPES = ("statutory", "review", "core_group", "other")
# What each table row says of a child on a visit; a table names the ones it keeps.
FACTS = ("date", "seen", "seen_alone", "bedroom_seen")
KEYS = {"name", "description", "flags", "case_note_types", "tables", "fields"}


class MappingError(ValueError):
    """A mapping that cannot be used: it says which part is wrong."""


@dataclass(frozen=True)
class Mapping:
    """A checked mapping (see the module docstring for the JSON it comes from)."""

    name: str
    yes: Any
    no: Any
    case_note_types: dict[str, str]
    tables: dict[str, str]
    fields: dict[str, dict[str, str]]

    def flag(self, value: bool | None) -> Any:
        """A yes/no as the core system writes it; unknown stays null."""
        if value is None:
            return None
        return self.yes if value else self.no

    def case_note_type(self, visit_type: str, plan_type: str) -> str | None:
        """The case-note type for this kind of visit to a child on this plan."""
        return self.case_note_types.get(
            f"{visit_type}/{plan_type}", self.case_note_types.get(visit_type)
        )

    def row(self, plan_type: str, visit_date: date, entry: dict[str, Any]) -> dict[str, Any] | None:
        """The child's row in their plan's table: ``{"table", "fields"}``, or None if none."""
        table = self.tables.get(plan_type)
        if table is None:
            return None
        facts = {
            "date": visit_date.isoformat(),
            "seen": self.flag(entry.get("seen")),
            "seen_alone": self.flag(bool(entry.get("seen")) and bool(entry.get("seen_alone"))),
            "bedroom_seen": self.flag(entry.get("bedroom_seen")),
        }
        names = self.fields[table]
        return {
            "table": table,
            "fields": {names[fact]: facts[fact] for fact in FACTS if fact in names},
        }


def _check(raw: Any) -> Mapping:
    if not isinstance(raw, dict):
        raise MappingError("must be a JSON object")
    if unknown := set(raw) - KEYS:
        raise MappingError(f"unknown keys {sorted(unknown)}")
    flags = raw.get("flags", {"true": "Y", "false": "N"})
    if not isinstance(flags, dict) or set(flags) != {"true", "false"}:
        raise MappingError('flags must be {"true": ..., "false": ...}')
    if not all(isinstance(value, (str, bool)) for value in flags.values()):
        raise MappingError("flags must be strings or booleans")
    if flags["true"] == flags["false"]:
        raise MappingError("flags must write yes and no differently")
    note_types = raw.get("case_note_types", {})
    for key, value in _object(note_types, "case_note_types").items():
        visit_type, _, plan_type = key.partition("/")
        if visit_type not in VISIT_TYPES or (plan_type and plan_type not in PLAN_TYPES):
            raise MappingError(f"case_note_types: {key!r} is not visit_type or visit_type/plan")
        _text(value, f"case_note_types[{key!r}]")
    if missing := [kind for kind in VISIT_TYPES if kind not in note_types]:
        raise MappingError(f"case_note_types needs a code for every visit type; missing {missing}")
    tables = _object(raw.get("tables", {}), "tables")
    fields = _object(raw.get("fields", {}), "fields")
    for plan_type, table in tables.items():
        if plan_type not in PLAN_TYPES:
            raise MappingError(f"tables: {plan_type!r} is not a plan type")
        if _text(table, f"tables[{plan_type!r}]") not in fields:
            raise MappingError(f"fields has no entry for table {table!r}")
    for table, names in fields.items():
        names = _object(names, f"fields[{table!r}]")
        if not names or set(names) - set(FACTS):
            raise MappingError(f"fields[{table!r}] may name only {list(FACTS)}")
        for fact, name in names.items():
            _text(name, f"fields[{table!r}][{fact!r}]")
        if len(set(names.values())) != len(names):
            raise MappingError(f"fields[{table!r}] names one field for two facts")
    return Mapping(
        name=_text(raw.get("name", "custom"), "name"),
        yes=flags["true"],
        no=flags["false"],
        case_note_types=dict(note_types),
        tables=dict(tables),
        fields={table: dict(names) for table, names in fields.items()},
    )


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MappingError(f"{where} must be an object")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 100:
        raise MappingError(f"{where} must be a string of 1 to 100 characters")
    return value


@lru_cache(maxsize=8)
def load_mapping(name_or_path: str) -> Mapping:
    """The mapping called ``name_or_path`` (built in), or read from that JSON file."""
    built_in = BUILT_IN / f"{name_or_path}.json"
    path = built_in if name_or_path.isidentifier() else Path(name_or_path)
    if name_or_path.isidentifier() and not built_in.is_file():
        known = sorted(p.stem for p in BUILT_IN.glob("*.json"))
        raise MappingError(f"no built-in mapping {name_or_path!r} (there are {known})")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise MappingError(f"cannot read {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise MappingError(f"{path} is not JSON: {error.msg} at line {error.lineno}") from None
    return _check(raw)
