"""The honest baseline for visit create: a bare Flask endpoint doing the same writes.

One transaction per request, as ``PUT /visits/{id}`` does on a create: the visit row, one
``visit_children`` row per child, and one audit event per child, chained exactly as
:mod:`service.audit.chain` chains them (``audit_claim_chain`` takes a free chain and reads its
head in one call; each event's hash covers the one before). The tables are reflected from the
migrated database, so every column the app writes is written here too, with the same values.

What it skips is everything that is not a write: no sign-in or revocation check, no
validation, no scope check, no case or children read, no ORM, no response body beyond the id.
The worker and team are given by ``BARE_WORKER_ID`` and ``BARE_TEAM_ID`` (the app reads them
from the session and the case); ``BARE_DATABASE_URL`` names the database.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, request
from sqlalchemy import MetaData, create_engine, insert, text

from service.audit.chain import ADVISORY_LOCK_CLASS, GENESIS, event_hash

CHAINS = 16  # AUDIT_CHAINS' default
engine = create_engine(os.environ["BARE_DATABASE_URL"], pool_size=5)
metadata = MetaData()
metadata.reflect(engine, only=["visits", "visit_children", "audit_events"])
visits = metadata.tables["visits"]
visit_children = metadata.tables["visit_children"]
audit_events = metadata.tables["audit_events"]
WORKER_ID = uuid.UUID(os.environ["BARE_WORKER_ID"])
TEAM_ID = uuid.UUID(os.environ["BARE_TEAM_ID"])
CLAIM = text("SELECT * FROM audit_claim_chain(:lock_class, CAST(:order AS integer[]))")
CHILD_COLUMNS = (
    "seen",
    "seen_alone",
    "not_seen_reason",
    "not_seen_detail",
    "not_seen_alone_reason",
    "not_seen_alone_detail",
    "bedroom_seen",
)
VOICE_COLUMNS = {
    "own_words": "own_words",
    "wishes_and_feelings": "wishes_and_feelings",
    "good_things": "good_things",
    "worries": "worries",
    "dreams": "dreams",
    "method": "voice_method",
    "consent_to_share": "consent_to_share",
    "not_gathered_reason": "views_not_gathered_reason",
}

app = Flask(__name__)


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


def _visit_row(visit_id: uuid.UUID, body: dict[str, Any], raw: bytes) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": visit_id,
        "case_id": uuid.UUID(body["case_id"]),
        "worker_id": WORKER_ID,
        "visit_type": body.get("visit_type"),
        "announced": body.get("announced"),
        "started_at": _moment(body.get("started_at")),
        "ended_at": _moment(body.get("ended_at")),
        "location": body.get("location"),
        "people_present": list(body.get("people_present") or []),
        "observations": body.get("observations"),
        "analysis": body.get("analysis"),
        "next_actions": body.get("next_actions"),
        "status": "draft",
        "version": 1,
        "content_digest": hashlib.sha256(raw).hexdigest(),
        "recorded_at": now,
        "updated_at": now,
        "recorded_late": False,
        "team_id": TEAM_ID,
        "children_seen": 0,
        "children_seen_alone": 0,
    }


def _child_rows(visit_id: uuid.UUID, body: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for position, entry in enumerate(body["children"]):
        voice = entry.get("voice") or {}
        scale = voice.get("scale") or {}
        row = {"visit_id": visit_id, "child_id": uuid.UUID(entry["child_id"])}
        row["position"] = position
        row.update({name: entry.get(name) for name in CHILD_COLUMNS})
        row.update({column: voice.get(name) for name, column in VOICE_COLUMNS.items()})
        row.update(
            scale_score=scale.get("score"),
            scale_question=scale.get("question"),
            scale_scored_by=scale.get("scored_by"),
        )
        rows.append(row)
    return rows


def _audit_rows(visit_id: uuid.UUID, children: list[dict[str, Any]]) -> list[dict[str, Any]]:
    agent = request.headers.get("User-Agent")
    common = {
        "at": datetime.now(UTC),
        "actor_id": WORKER_ID,
        "actor_role": "social_worker",
        "action": "create",
        "record_type": "visit",
        "record_id": str(visit_id),
        "remote_addr": request.remote_addr,
        "user_agent": agent[:200] if agent else None,
        "request_id": uuid.uuid4().hex,
        "device_id": None,
        "changed_fields": [],
        "snapshot_sha256": None,
        "details": {},
    }
    child_ids = sorted({row["child_id"] for row in children}, key=str)
    return [{**common, "child_id": child_id} for child_id in child_ids]


@app.put("/visits/<uuid:visit_id>")
def put_visit(visit_id: uuid.UUID) -> tuple[dict[str, str], int]:
    """Write the visit, its children and their chained audit events in one transaction."""
    raw = request.get_data()
    body = request.get_json()
    visit = _visit_row(visit_id, body, raw)
    children = _child_rows(visit_id, body)
    events = _audit_rows(visit_id, children)
    start = secrets.randbelow(CHAINS)
    order = [(start + step) % CHAINS for step in range(CHAINS)]
    with engine.begin() as connection:
        connection.execute(insert(visits), visit)
        connection.execute(insert(visit_children), children)
        claimed = connection.execute(
            CLAIM, {"lock_class": ADVISORY_LOCK_CLASS, "order": order}
        ).one()
        seq, prev_hash = int(claimed.head_seq), claimed.head_hash or GENESIS
        for event in events:
            seq += 1
            event.update(chain=int(claimed.claimed), seq=seq, prev_hash=prev_hash)
            event["hash"] = prev_hash = event_hash(prev_hash, event)
        connection.execute(insert(audit_events), events)
    return {"id": str(visit_id)}, 201


@app.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness, so the benchmark harness knows the server is up."""
    return {"status": "ok"}
