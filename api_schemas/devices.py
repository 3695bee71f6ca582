"""Device shapes."""

from __future__ import annotations

from marshmallow import Schema, fields

from api_schemas.common import UTCDateTime


class DeviceSchema(Schema):
    """A registered tablet."""

    id = fields.UUID()
    device_id = fields.String(
        attribute="client_device_id", metadata={"description": "The tablet's own id"}
    )
    name = fields.String(allow_none=True)
    user_id = fields.UUID()
    registered_at = UTCDateTime()
    last_used_at = UTCDateTime()
    revoked_at = UTCDateTime(allow_none=True)
