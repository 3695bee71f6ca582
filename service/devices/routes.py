"""Device endpoints."""

from __future__ import annotations

import uuid
from typing import Any

from flask import g

from api_schemas.devices import DeviceSchema
from service.api import Blueprint, paginate_select
from service.audit.operations import record
from service.auth.models import Device
from service.devices import operations

blp = Blueprint("devices", __name__, description="Registered tablets and their revocation.")


@blp.get("/devices")
@blp.login_required()
@blp.response(200, DeviceSchema(many=True))
@blp.paginate()
def list_devices(pagination_parameters: Any) -> list[Device]:
    """Your registered devices (an admin sees every device)."""
    return paginate_select(operations.device_query(g.user), pagination_parameters)


@blp.delete("/devices/<uuid:device_id>")
@blp.login_required()
@blp.response(200, DeviceSchema)
@blp.alt_response(404, description="No such device among yours")
def revoke_device(device_id: uuid.UUID) -> Device:
    """Revoke a lost tablet: from now on every token issued to it is refused, everywhere.

    The device's owner or an admin may do this; revoking twice is harmless.
    """
    device = operations.revoke_device(g.user, device_id)
    record(g.user, "revoke", "device", [device.id], owner=str(device.user_id))
    return device
