"""Shapes of the audit trail's endpoints: filters, events, access-log entries, unusual hits."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api_schemas.common import StrictSchema, UTCDateTime, choice, text
from service.audit.events import Action

ACTIONS = tuple(str(action) for action in Action)


class AuditQuerySchema(StrictSchema):
    """Filters for the audit trail: who, which child, which record, what, when."""

    actor_id = fields.UUID(load_default=None)
    child_id = fields.UUID(load_default=None)
    record_type = text(30, load_default=None)
    record_id = text(64, load_default=None)
    action = choice(ACTIONS, load_default=None)
    since = UTCDateTime(load_default=None)
    until = UTCDateTime(load_default=None)
    format = choice(("json", "csv"), load_default="json")


class AuditEventSchema(Schema):
    """One event: who did what to which record (and which child), when, from where."""

    id = fields.Integer()
    at = fields.AwareDateTime()
    actor_id = fields.UUID(allow_none=True)
    actor_role = fields.String(allow_none=True)
    action = fields.String()
    record_type = fields.String()
    record_id = fields.String(allow_none=True)
    child_id = fields.UUID(allow_none=True)
    remote_addr = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    device_id = fields.UUID(allow_none=True)
    changed_fields = fields.List(fields.String())
    snapshot_sha256 = fields.String(allow_none=True)
    details = fields.Dict()
    chain = fields.Integer()
    seq = fields.Integer()
    hash = fields.String()


class AccessLogEntrySchema(Schema):
    """Who looked at or changed the child's records, when, from which device."""

    at = fields.AwareDateTime()
    actor_id = fields.UUID(allow_none=True)
    actor_name = fields.String(allow_none=True)
    actor_role = fields.String(allow_none=True)
    action = fields.String()
    record_type = fields.String()
    record_id = fields.String(allow_none=True)
    device_id = fields.UUID(allow_none=True)
    device_name = fields.String(allow_none=True)
    client_device_id = fields.String(
        allow_none=True, metadata={"description": "the id the tablet gave itself at sign-in"}
    )
    remote_addr = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)


class AccessLogQuerySchema(StrictSchema):
    """Filters for a child's access log."""

    since = UTCDateTime(load_default=None)
    until = UTCDateTime(load_default=None)


class UnusualQuerySchema(StrictSchema):
    """The report's window: the last ``days`` days."""

    days = fields.Integer(load_default=7, validate=validate.Range(1, 366))


class UnusualHitSchema(Schema):
    """One unusual access, explained."""

    rule = fields.String()
    actor_id = fields.UUID(allow_none=True)
    actor_name = fields.String(allow_none=True)
    child_id = fields.UUID(allow_none=True)
    at = fields.AwareDateTime()
    explanation = fields.String()
