"""The local case registry: load cases, children and allocations from CSV or JSON.

The whole file is validated before anything is written, so a bad row never leaves half a file
imported; re-importing the same file changes nothing (cases and children are keyed on the core
system's references).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select

from api_schemas.cases import CaseImportRowSchema
from service.auth.models import Team, User
from service.cases.models import Case, Child
from service.cases.operations import refresh_next_due
from service.errors import flatten_errors
from service.extensions import db

CASE_FIELDS = ("case_status", "team", "allocated_worker", "opened_on", "closed_on")
CHILD_FIELDS = ("child_name", "date_of_birth", "plan_type", "plan_start_date")


class ImportFailed(Exception):
    """The file has bad rows; ``problems`` lists them as ``(where, message)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@dataclass
class ImportResult:
    """What an import did."""

    cases_created: int = 0
    cases_updated: int = 0
    children_created: int = 0
    children_updated: int = 0
    rows: int = 0


def read_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(where, raw row)`` from a CSV (header row) or a JSON array of objects."""
    if path.suffix.lower() == ".json":
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ImportFailed([(f"line {error.lineno}", f"not valid JSON: {error.msg}")]) from None
        if not isinstance(items, list):
            raise ImportFailed([("file", "a JSON import must be an array of row objects")])
        for index, item in enumerate(items, start=1):
            yield f"item {index}", item if isinstance(item, dict) else {"_": item}
        return
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            cleaned = {k: (v.strip() or None) if isinstance(v, str) else v for k, v in row.items()}
            if None in cleaned:
                cleaned["_extra_columns"] = cleaned.pop(None)
            yield f"line {reader.line_num}", cleaned


def validate_rows(raw_rows: Iterable[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Validate every row and the whole file; raise :class:`ImportFailed` listing all problems."""
    schema = CaseImportRowSchema()
    problems: list[tuple[str, str]] = []
    rows: list[dict[str, Any]] = []
    for where, raw in raw_rows:
        clean = {k: v for k, v in raw.items() if v is not None}
        try:
            rows.append({**schema.load(clean), "_where": where})
        except ValidationError as error:
            for path, messages in flatten_errors(error.messages).items():
                problems.extend((where, f"{path}: {message}") for message in messages)
    problems.extend(_consistency_problems(rows))
    if not rows and not problems:
        problems.append(("file", "no rows"))
    if problems:
        raise ImportFailed(problems)
    return rows


def _consistency_problems(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    problems = []
    seen_cases: dict[str, dict[str, Any]] = {}
    seen_children: dict[str, dict[str, Any]] = {}
    for row in rows:
        for key, fields_, seen in (
            ("case_ref", CASE_FIELDS, seen_cases),
            ("person_ref", CHILD_FIELDS, seen_children),
        ):
            first = seen.setdefault(row[key], row)
            clashes = [name for name in fields_ if first[name] != row[name]]
            if clashes:
                problems.append(
                    (
                        row["_where"],
                        f"{key} {row[key]} differs from {first['_where']} in {', '.join(clashes)}",
                    )
                )
    teams = {team.name: team for team in db.session.scalars(select(Team))}
    workers = {
        user.username: user
        for user in db.session.scalars(select(User).where(User.role == "social_worker"))
    }
    for row in seen_cases.values():
        if row["team"] not in teams:
            problems.append((row["_where"], f"team: no team called {row['team']!r}"))
        worker = row["allocated_worker"]
        if worker and worker not in workers:
            problems.append((row["_where"], f"allocated_worker: no social worker {worker!r}"))
    return problems


def _existing(model: Any, key: Any, refs: set[str], chunk: int = 1000) -> dict[str, Any]:
    """The rows of ``model`` whose ``key`` is among ``refs``, read a bounded chunk at a time."""
    wanted = sorted(refs)
    found: dict[str, Any] = {}
    for start in range(0, len(wanted), chunk):
        query = select(model).where(key.in_(wanted[start : start + chunk]))
        found.update({getattr(row, key.key): row for row in db.session.scalars(query)})
    return found


def apply_rows(
    rows: list[dict[str, Any]], progress: Callable[[Iterable[Any]], Any] = iter
) -> ImportResult:
    """Upsert cases and children from validated rows (flushes; the caller commits)."""
    result = ImportResult(rows=len(rows))
    teams = {team.name: team for team in db.session.scalars(select(Team))}
    workers = {user.username: user for user in db.session.scalars(select(User))}
    cases = _existing(Case, Case.core_ref, {row["case_ref"] for row in rows})
    children = _existing(Child, Child.core_person_ref, {row["person_ref"] for row in rows})
    members: dict[str, list[Child]] = {}
    new_cases: set[str] = set()
    new_children: set[str] = set()
    for row in progress(rows):
        case = cases.get(row["case_ref"])
        if case is None:
            case = cases[row["case_ref"]] = Case(core_ref=row["case_ref"])
            db.session.add(case)
            new_cases.add(row["case_ref"])
        case.status = row["case_status"]
        case.team = teams[row["team"]]
        case.allocated_worker = workers.get(row["allocated_worker"] or "")
        case.opened_on, case.closed_on = row["opened_on"], row["closed_on"]
        child = children.get(row["person_ref"])
        if child is None:
            child = children[row["person_ref"]] = Child(core_person_ref=row["person_ref"])
            db.session.add(child)
            new_children.add(row["person_ref"])
        child.name, child.date_of_birth = row["child_name"], row["date_of_birth"]
        child.plan_type, child.plan_start_date = row["plan_type"], row["plan_start_date"]
        refresh_next_due(child)
        kids = members.setdefault(row["case_ref"], [])
        if child not in kids:
            kids.append(child)
    person_refs = {row["person_ref"] for row in rows}
    result.cases_created, result.cases_updated = len(new_cases), len(members) - len(new_cases)
    result.children_created = len(new_children)
    result.children_updated = len(person_refs) - len(new_children)
    for case_ref, kids in members.items():
        cases[case_ref].children = kids
    db.session.flush()
    return result
