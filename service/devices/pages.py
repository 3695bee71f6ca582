"""Desk pages for admins: registered tablets, and revoking a lost one.

The list is :func:`operations.device_query` for the signed-in admin and the revocation is
:func:`operations.revoke_device`, exactly as the API's ``GET /devices`` and ``DELETE
/devices/{id}``. No child data here: devices and who they belong to.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import flash, g, redirect, request, url_for
from sqlalchemy import select

from service.auth.models import Device, User
from service.devices import operations
from service.errors import NotFound
from service.extensions import db
from service.pages import PageBlueprint, render
from service.paging import page_number

blp = PageBlueprint("devices_desk", __name__)

PER_PAGE = 50
STATES = {"active": "In use", "revoked": "Revoked", "all": "All"}


def _owner_filter() -> User | None:
    try:
        owner_id = uuid.UUID(request.args.get("user", ""))
    except ValueError:
        return None
    return db.session.get(User, owner_id)


@blp.get("/admin/devices")
@blp.in_navigation("Devices", "admin")
@blp.signin_required("admin")
def devices() -> Any:
    """Registered tablets with their user, name, when registered and last used, and revoked."""
    state = request.args.get("state", "active")
    state = state if state in STATES else "active"
    owner = _owner_filter()
    query = operations.device_query(g.user)
    if state == "active":
        query = query.where(Device.revoked_at.is_(None))
    elif state == "revoked":
        query = query.where(Device.revoked_at.is_not(None))
    if owner is not None:
        query = query.where(Device.user_id == owner.id)
    number = page_number(request.args)
    rows = list(db.session.scalars(query.limit(PER_PAGE + 1).offset((number - 1) * PER_PAGE)))
    owners = {
        user.id: user
        for user in db.session.scalars(select(User).where(User.id.in_({d.user_id for d in rows})))
    }
    return render(
        "desk/admin/devices.html",
        rows=rows[:PER_PAGE],
        owners=owners,
        owner=owner,
        state=state,
        states=STATES,
        number=number,
        more=len(rows) > PER_PAGE,
    )


def _device(device_id: uuid.UUID) -> Device:
    found = db.session.scalar(operations.device_query(g.user).where(Device.id == device_id))
    if found is None:
        raise NotFound("device.not_found", "No such device.")
    return found


@blp.route("/admin/devices/<uuid:device_id>/revoke", methods=["GET", "POST"])
@blp.signin_required("admin")
def revoke(device_id: uuid.UUID) -> Any:
    """Confirm, then revoke a lost tablet: every token issued to it stops working at once."""
    device = _device(device_id)
    if request.method == "POST":
        operations.revoke_device(g.user, device.id)
        flash(f"The tablet {device.name or device.client_device_id} is revoked.", "success")
        return redirect(url_for("devices_desk.devices"))
    return render(
        "desk/admin/revoke_device.html",
        device=device,
        owner=db.session.get(User, device.user_id),
    )
