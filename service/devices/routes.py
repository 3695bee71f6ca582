"""Device endpoints."""

from __future__ import annotations

import uuid
from typing import Any

from flask import g

from api_schemas.devices import DeviceSchema
from service.api import Blueprint, paginate_select
from service.audit.reads import audit_exempt
from service.auth.models import Device
from service.devices import operations

blp = Blueprint("devices", __name__, description="Registered tablets and their revocation.")


@blp.get("/devices")
@blp.login_required()
@blp.response(200, DeviceSchema(many=True))
@blp.paginate()
@audit_exempt("devices: no child data")
def list_devices(pagination_parameters: Any) -> list[Device]:
    """Your registered devices (an admin sees every device)."""
    return paginate_select(operations.device_query(g.user), pagination_parameters)


@blp.delete("/devices/<uuid:device_id>")
@blp.login_required()
@blp.response(200, DeviceSchema)
@blp.alt_response(404, description="No such device among yours")
@audit_exempt("a write: revoke_device records it")
def revoke_device(device_id: uuid.UUID) -> Device:
    """Revoke a lost tablet: from now on every token issued to it is refused, everywhere.

    The device's owner or an admin may do this; revoking twice is harmless.
    """
    return operations.revoke_device(g.user, device_id)
