"""What the audit trail hears of a visit's life: every transition, once, from its event."""

from __future__ import annotations

from flask import Flask

from service.audit.operations import record
from service.visits.lifecycle import Action, VisitEvent, visit_changed

# The names the trail has always used for these changes.
AUDIT_ACTIONS = {Action.EDIT: "update"}


def on_visit_changed(event: VisitEvent) -> None:
    """Record who did what to which visit, naming its children (ids only, never content)."""
    details = dict(event.details)
    if event.version is not None:
        details.update(version=event.version.number, snapshot_sha256=event.version.sha256)
    if event.previous_status is not None:
        details["from_status"] = str(event.previous_status)
    record(
        event.actor,
        AUDIT_ACTIONS.get(event.action, str(event.action)),
        "visit",
        [event.visit.id],
        child_ids=sorted(str(child_id) for child_id in event.child_ids),
        **details,
    )


def init_app(app: Flask) -> None:
    """Subscribe the audit trail to the visit's life."""
    visit_changed.connect(on_visit_changed)
