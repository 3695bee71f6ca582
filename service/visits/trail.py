"""What the audit trail hears of a visit's life: every transition, once, from its event."""

from __future__ import annotations

from flask import Flask

from service.audit.events import Action as AuditAction
from service.audit.events import about_children
from service.audit.trail import record
from service.visits.lifecycle import Action, VisitEvent, visit_changed

# The trail's names for the lifecycle's actions, where they differ.
AUDIT_ACTIONS = {Action.EDIT: AuditAction.UPDATE}


def on_visit_changed(event: VisitEvent) -> None:
    """Record who did what to which visit, one event per child (ids and field names only)."""
    details = dict(event.details)
    changed = details.pop("changed_fields", ())
    if event.version is not None:
        details["version"] = event.version.number
    if event.previous_status is not None:
        details["from_status"] = str(event.previous_status)
    action = AUDIT_ACTIONS.get(event.action) or AuditAction(str(event.action))
    record(
        action,
        about_children("visit", event.visit.id, event.child_ids),
        actor=event.actor,
        changed_fields=changed,
        snapshot_sha256=event.version.sha256 if event.version is not None else None,
        **details,
    )


def init_app(app: Flask) -> None:
    """Subscribe the audit trail to the visit's life."""
    visit_changed.connect(on_visit_changed)
