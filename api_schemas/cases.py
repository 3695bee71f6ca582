"""Caseload shapes: cases with their children, last seen and next due."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api_schemas.auth import PersonSchema, TeamSchema
from api_schemas.common import StrictSchema, UTCDateTime, choice, query_flag
from service.cases.models import CASE_STATUSES
from service.cases.operations import is_overdue, today
from service.timescales import PLAN_TYPES


class ChildSchema(Schema):
    """A child with the fields that make an unseen child visible."""

    id = fields.UUID()
    core_person_ref = fields.String()
    name = fields.String()
    date_of_birth = fields.Date(allow_none=True)
    plan_type = fields.String()
    plan_start_date = fields.Date()
    last_seen_at = UTCDateTime(allow_none=True)
    last_seen_alone_at = UTCDateTime(allow_none=True)
    next_visit_due = fields.Date()
    overdue = fields.Function(
        is_overdue, metadata={"type": "boolean", "description": "next_visit_due is before today"}
    )


class ChildDetailSchema(ChildSchema):
    """A child, with the cases they are on."""

    case_ids = fields.Function(lambda child: [str(case.id) for case in child.cases])


class CaseSchema(Schema):
    """A case on a caseload."""

    id = fields.UUID()
    core_ref = fields.String()
    status = fields.String()
    opened_on = fields.Date()
    closed_on = fields.Date(allow_none=True)
    allocated_worker = fields.Nested(PersonSchema, allow_none=True)
    team = fields.Nested(TeamSchema)
    children = fields.List(fields.Nested(ChildSchema))


class CaseQuerySchema(StrictSchema):
    """Filters for the caseload."""

    status = choice(CASE_STATUSES, load_default=None)
    plan_type = choice(PLAN_TYPES, load_default=None)
    overdue = query_flag(
        load_default=None, metadata={"description": "Only cases with an overdue child"}
    )
    worker_id = fields.UUID(load_default=None)


class CaseLookupSchema(StrictSchema):
    """Which case to find: the core system's reference."""

    core_ref = fields.String(required=True, validate=validate.Length(min=1, max=64))


class CaseImportRowSchema(StrictSchema):
    """One row of a case-registry import: a child on a case (CSV column or JSON key names)."""

    case_ref = fields.String(required=True, validate=validate.Length(min=1, max=64))
    case_status = choice(CASE_STATUSES, load_default="open")
    team = fields.String(required=True, validate=validate.Length(min=1, max=64))
    allocated_worker = fields.String(load_default=None, allow_none=True)
    opened_on = fields.Date(required=True)
    closed_on = fields.Date(load_default=None, allow_none=True)
    person_ref = fields.String(required=True, validate=validate.Length(min=1, max=64))
    child_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    date_of_birth = fields.Date(load_default=None, allow_none=True)
    plan_type = choice(PLAN_TYPES, required=True)
    plan_start_date = fields.Date(required=True)

    @validates_schema(skip_on_field_errors=False)
    def _dates_in_order(self, row: dict[str, Any], **kwargs: Any) -> None:
        """Birth not in the future, closed not before opened, plan not before birth."""
        born, opened = row.get("date_of_birth"), row.get("opened_on")
        closed, plan_start = row.get("closed_on"), row.get("plan_start_date")
        problems: dict[str, list[str]] = {}
        if born and born > today():
            problems["date_of_birth"] = [f"date of birth {born} is in the future"]
        if closed and opened and closed < opened:
            problems["closed_on"] = [f"case closed on {closed}, before it opened on {opened}"]
        if born and plan_start and plan_start < born:
            problems["plan_start_date"] = [
                f"plan starts on {plan_start}, before the child was born on {born}"
            ]
        if problems:
            raise ValidationError(problems)
