"""The copies on each visit that the oversight summary adds up, kept from its latest version."""

from __future__ import annotations

from flask import Flask

from service.visits.lifecycle import VisitEvent, visit_changed
from service.visits.record import seen_alone


def on_visit_changed(event: VisitEvent) -> None:
    """A new version: count the children it records as seen, and as seen alone."""
    if event.version is None:
        return
    children = event.version.snapshot["children"]
    event.visit.children_seen = sum(1 for entry in children if entry["seen"])
    event.visit.children_seen_alone = sum(1 for entry in children if seen_alone(entry))


def init_app(app: Flask) -> None:
    """Subscribe the oversight copies to the visit's life."""
    visit_changed.connect(on_visit_changed)
