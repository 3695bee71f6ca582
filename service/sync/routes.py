"""The sync endpoint."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from flask import Response, current_app, g, jsonify, request

from api_schemas.sync import SyncRequestSchema, SyncResponseSchema
from service.api import Blueprint
from service.audit.events import Action, Subject, about_children
from service.audit.reads import audited
from service.audit.trail import record
from service.sync import operations

blp = Blueprint("sync", __name__, description="Offline sync from tablets.")


@blp.before_request
def allow_batch_bodies() -> None:
    """A batch of visits may be larger than the 1 MiB JSON limit elsewhere."""
    request.max_content_length = current_app.config["SYNC_MAX_BODY_MB"] * 1024 * 1024


def _children(entries: list[dict[str, Any]], key: str) -> list[uuid.UUID]:
    return [uuid.UUID(str(entry[key])) for entry in entries if entry.get(key)]


def _shown(outcome: operations.SyncOutcome) -> list[Subject]:
    """What the answer showed the tablet: the changed cases, returned and conflicting visits."""
    shown: list[Subject] = []
    for case in outcome.changes.get("cases", []):
        shown += about_children("case", case["id"], _children(case.get("children", []), "id"))
    visits = list(outcome.changes.get("returned_visits", []))
    visits += [result["server_visit"] for result in outcome.results if result.get("server_visit")]
    for visit in visits:
        shown += about_children(
            "visit", visit["id"], _children(visit.get("children", []), "child_id")
        )
    return shown


@blp.post("/sync")
@blp.login_required("social_worker")
@blp.arguments(SyncRequestSchema)
@blp.response(200, SyncResponseSchema)
@blp.alt_response(413, description="More items than SYNC_MAX_ITEMS")
@blp.alt_response(422, description="Bad device id or cursor (item problems are per-item results)")
@audited(Action.LIST, subjects=lambda response, **view_args: _shown(g.sync_changes))
def sync(body: dict[str, Any]) -> Response:
    """Send a batch of offline visits; get a result per item and what changed since the cursor.

    Each item is the ``PUT /visits/{id}`` body plus ``id``, ``base_version`` (the version it was
    edited from, null if new), ``submit`` and ``attachment_ids``. Results: ``created``,
    ``updated``, ``unchanged`` (nothing new), ``conflict`` (changed on the server since
    ``base_version``; ``server_visit`` holds the server's copy), ``rejected`` (``errors`` as in
    a 422). Items are applied independently and atomically. Sending the identical batch again
    returns the same answer and changes nothing. ``changes`` holds the caseload's changed cases,
    the ids of every case in it (drop any others), and visits returned by a supervisor.
    """
    outcome = operations.sync_batch(
        g.user,
        body,
        session_id=g.get("auth_session_id"),
        max_items=current_app.config["SYNC_MAX_ITEMS"],
    )
    counts = Counter(result["result"] for result in outcome.results)
    # The batch itself (its writes are heard from each visit's lifecycle); ids and counts only.
    record(Action.SYNC, Subject("sync_batch", None), replay=outcome.replayed, results=dict(counts))
    g.sync_changes = outcome
    return jsonify(
        {"results": outcome.results, "changes": outcome.changes, "cursor": outcome.cursor}
    )
