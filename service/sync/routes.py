"""The sync endpoint."""

from __future__ import annotations

from collections import Counter
from typing import Any

from flask import Response, current_app, g, jsonify, request

from api_schemas.sync import SyncRequestSchema, SyncResponseSchema
from service.api import Blueprint
from service.audit.operations import record
from service.sync import operations

blp = Blueprint("sync", __name__, description="Offline sync from tablets.")


@blp.before_request
def allow_batch_bodies() -> None:
    """A batch of visits may be larger than the 1 MiB JSON limit elsewhere."""
    request.max_content_length = current_app.config["SYNC_MAX_BODY_MB"] * 1024 * 1024


@blp.post("/sync")
@blp.login_required("social_worker")
@blp.arguments(SyncRequestSchema)
@blp.response(200, SyncResponseSchema)
@blp.alt_response(413, description="More items than SYNC_MAX_ITEMS")
@blp.alt_response(422, description="Bad device id or cursor (item problems are per-item results)")
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
    action = "sync_replay" if outcome.replayed else "sync"
    record(g.user, action, "visit", [r["id"] for r in outcome.results if r["id"]], **counts)
    record(g.user, "list", "case", outcome.changed_case_ids)
    return jsonify(
        {"results": outcome.results, "changes": outcome.changes, "cursor": outcome.cursor}
    )
