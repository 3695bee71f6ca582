"""the record: snapshots in their own format, the record copy, evidence in versions

Revision ID: 0007_lifecycle
Revises: 0006_feedback
Create Date: 2026-11-22 07:00:00

Existing snapshots (the API's dump of a visit) are rewritten into record format 1 with their
digest; submitted visits that never had a version (old demo data) get one from their rows;
reviews recorded against version 0 point at version 1; ``visit_record_children`` is built from
every visit's latest version. The children's derived dates are then recomputed by
``flask --app wsgi visits verify-record --repair`` (it needs the council's timescale settings).
"""
import hashlib
import json
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0007_lifecycle'
down_revision = '0006_feedback'
branch_labels = None
depends_on = None

VIEW_TEXTS = ("own_words", "wishes_and_feelings", "good_things", "worries", "dreams")
CHILD_FIELDS = (
    "seen", "seen_alone", "not_seen_reason", "not_seen_detail", "not_seen_alone_reason",
    "not_seen_alone_detail", "bedroom_seen",
)
VISIT_FIELDS = (
    "visit_type", "announced", "location", "observations", "analysis", "next_actions",
    "amendment_reason",
)

visits = sa.table(
    "visits", sa.column("id", sa.Uuid()), sa.column("case_id", sa.Uuid()),
    sa.column("worker_id", sa.Uuid()), sa.column("visit_type", sa.String()),
    sa.column("announced", sa.Boolean()), sa.column("started_at", sa.DateTime(timezone=True)),
    sa.column("ended_at", sa.DateTime(timezone=True)), sa.column("location", sa.String()),
    sa.column("people_present", sa.JSON()), sa.column("observations", sa.Text()),
    sa.column("analysis", sa.Text()), sa.column("next_actions", sa.Text()),
    sa.column("amendment_reason", sa.Text()), sa.column("version", sa.Integer()),
    sa.column("submitted_at", sa.DateTime(timezone=True)),
)
visit_children = sa.table(
    "visit_children", sa.column("visit_id", sa.Uuid()), sa.column("child_id", sa.Uuid()),
    sa.column("position", sa.Integer()),
    *(sa.column(name) for name in CHILD_FIELDS),
    *(sa.column(name, sa.Text()) for name in VIEW_TEXTS),
    sa.column("scale_score", sa.Integer()), sa.column("scale_question", sa.String()),
    sa.column("scale_scored_by", sa.String()), sa.column("voice_method", sa.String()),
    sa.column("consent_to_share", sa.Boolean()),
    sa.column("views_not_gathered_reason", sa.Text()),
)
versions = sa.table(
    "visit_versions", sa.column("id", sa.Integer()), sa.column("visit_id", sa.Uuid()),
    sa.column("number", sa.Integer()), sa.column("visit_version", sa.Integer()),
    sa.column("submitted_at", sa.DateTime(timezone=True)),
    sa.column("submitted_by_id", sa.Uuid()), sa.column("amendment_reason", sa.Text()),
    sa.column("format", sa.Integer()), sa.column("sha256", sa.String()),
    sa.column("snapshot", sa.JSON()),
)
attachments = sa.table(
    "attachments", sa.column("id", sa.Uuid()), sa.column("visit_id", sa.Uuid()),
    sa.column("child_id", sa.Uuid()), sa.column("kind", sa.String()),
    sa.column("content_type", sa.String()), sa.column("stored_size", sa.BigInteger()),
    sa.column("sha256", sa.String()), sa.column("stored_sha256", sa.String()),
    sa.column("metadata_removed", sa.Boolean()),
    sa.column("uploaded_at", sa.DateTime(timezone=True)),
    sa.column("first_version", sa.Integer()),
)
record_children = sa.table(
    "visit_record_children", sa.column("visit_id", sa.Uuid()), sa.column("child_id", sa.Uuid()),
    sa.column("version_number", sa.Integer()), sa.column("worker_id", sa.Uuid()),
    sa.column("visit_type", sa.String()), sa.column("announced", sa.Boolean()),
    sa.column("started_at", sa.DateTime(timezone=True)), sa.column("seen", sa.Boolean()),
    sa.column("seen_alone", sa.Boolean()), sa.column("has_views", sa.Boolean()),
    sa.column("entry", sa.JSON()),
)
reviews = sa.table(
    "reviews", sa.column("visit_id", sa.Uuid()), sa.column("version_number", sa.Integer()),
)


def upgrade():
    with op.batch_alter_table('visit_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('format', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('sha256', sa.String(length=64), nullable=True))
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stored_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('first_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('withdrawn_by_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('withdrawn_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('erased_by_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('erased_reason', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_attachments_withdrawn_by_id_users'), 'users', ['withdrawn_by_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_attachments_erased_by_id_users'), 'users', ['erased_by_id'], ['id'])
    op.create_table('visit_record_children',
    sa.Column('visit_id', sa.Uuid(), nullable=False),
    sa.Column('child_id', sa.Uuid(), nullable=False),
    sa.Column('version_number', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.Uuid(), nullable=False),
    sa.Column('visit_type', sa.String(length=20), nullable=False),
    sa.Column('announced', sa.Boolean(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seen', sa.Boolean(), nullable=False),
    sa.Column('seen_alone', sa.Boolean(), nullable=False),
    sa.Column('has_views', sa.Boolean(), nullable=False),
    sa.Column('entry', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['child_id'], ['children.id'], name=op.f('fk_visit_record_children_child_id_children')),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_visit_record_children_visit_id_visits'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['worker_id'], ['users.id'], name=op.f('fk_visit_record_children_worker_id_users')),
    sa.PrimaryKeyConstraint('visit_id', 'child_id', name=op.f('pk_visit_record_children'))
    )
    op.create_index('ix_visit_record_children_child_id_started_at', 'visit_record_children', ['child_id', 'started_at'], unique=False)
    _convert_records(op.get_bind())
    with op.batch_alter_table('visit_versions', schema=None) as batch_op:
        batch_op.alter_column('sha256', existing_type=sa.String(length=64), nullable=False)


def _utc(moment):
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment):
    moment = _utc(moment)
    return moment.isoformat() if moment else None


def _digest(record):
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _has_views(entry, evidence):
    voice = entry.get("voice") or {}
    if any((voice.get(name) or "").strip() for name in VIEW_TEXTS):
        return True
    if (voice.get("scale") or {}).get("score") is not None:
        return True
    return any(e["kind"] == "drawing" and e["child_id"] == entry["child_id"] for e in evidence)


def _evidence(connection, visit_id, until):
    rows = connection.execute(
        sa.select(attachments).where(attachments.c.visit_id == visit_id)
    ).mappings()
    held = []
    for row in rows:
        if _utc(row["uploaded_at"]) > until:
            continue
        stored = row["stored_sha256"] or (None if row["metadata_removed"] else row["sha256"])
        held.append({
            "id": str(row["id"]), "kind": row["kind"],
            "child_id": str(row["child_id"]) if row["child_id"] else None,
            "content_type": row["content_type"], "size": row["stored_size"], "sha256": stored,
        })
    return sorted(held, key=lambda item: item["id"])


def _child_from_row(row):
    entry = {"child_id": str(row["child_id"])}
    entry.update({name: row[name] for name in CHILD_FIELDS})
    voice = {name: row[name] for name in VIEW_TEXTS}
    voice.update(
        method=row["voice_method"], consent_to_share=row["consent_to_share"],
        not_gathered_reason=row["views_not_gathered_reason"],
        scale={"score": row["scale_score"], "question": row["scale_question"],
               "scored_by": row["scale_scored_by"]} if row["scale_score"] is not None else None,
    )
    entry["voice"] = voice if any(v is not None for v in voice.values()) else None
    return entry


def _child_from_old(old):
    entry = {"child_id": old["child_id"]}
    entry.update({name: old.get(name) for name in CHILD_FIELDS})
    entry["voice"] = old.get("voice")
    return entry


def _convert_records(connection):
    now = datetime.now(UTC)
    visit_rows = {row["id"]: row for row in connection.execute(sa.select(visits)).mappings()}
    have_versions = set(connection.execute(sa.select(versions.c.visit_id).distinct()).scalars())
    for visit_id, visit in visit_rows.items():
        if visit["submitted_at"] is None or visit_id in have_versions:
            continue
        children = connection.execute(
            sa.select(visit_children).where(visit_children.c.visit_id == visit_id)
            .order_by(visit_children.c.position)
        ).mappings()
        old = {
            "id": str(visit_id), "case_id": str(visit["case_id"]),
            "worker": {"id": str(visit["worker_id"])},
            "started_at": _iso(visit["started_at"]), "ended_at": _iso(visit["ended_at"]),
            "people_present": visit["people_present"] or [],
            **{name: visit[name] for name in VISIT_FIELDS},
            "children": [_child_from_row(row) for row in children],
        }
        connection.execute(versions.insert().values(
            visit_id=visit_id, number=1, visit_version=visit["version"],
            submitted_at=_utc(visit["submitted_at"]), submitted_by_id=visit["worker_id"],
            amendment_reason=visit["amendment_reason"], format=0, sha256="", snapshot=old,
        ))
        connection.execute(
            reviews.update().where(reviews.c.visit_id == visit_id, reviews.c.version_number == 0)
            .values(version_number=1)
        )
    latest = {}
    for row in connection.execute(sa.select(versions).order_by(versions.c.number)).mappings():
        old = row["snapshot"]
        if row["format"] == 1 and row["sha256"]:
            record = old
        else:
            until = _utc(row["submitted_at"]) or now
            record = {
                "format": 1, "visit_id": str(row["visit_id"]),
                "case_id": str(old.get("case_id")),
                "worker_id": str((old.get("worker") or {}).get("id")),
                "started_at": _iso(old.get("started_at")), "ended_at": _iso(old.get("ended_at")),
                "people_present": list(old.get("people_present") or []),
                **{name: old.get(name) for name in VISIT_FIELDS},
                "children": [_child_from_old(child) for child in old.get("children") or []],
                "evidence": _evidence(connection, row["visit_id"], until),
            }
            connection.execute(
                versions.update().where(versions.c.id == row["id"])
                .values(format=1, sha256=_digest(record), snapshot=record)
            )
        for item in record["evidence"]:
            connection.execute(
                attachments.update()
                .where(attachments.c.id == uuid.UUID(item["id"]),
                       attachments.c.first_version.is_(None))
                .values(first_version=row["number"])
            )
        latest[row["visit_id"]] = (row["number"], record)
    connection.execute(
        attachments.update()
        .where(attachments.c.metadata_removed.is_(False), attachments.c.stored_sha256.is_(None))
        .values(stored_sha256=attachments.c.sha256)
    )
    for visit_id, (number, record) in latest.items():
        for entry in record["children"]:
            connection.execute(record_children.insert().values(
                visit_id=visit_id, child_id=uuid.UUID(entry["child_id"]), version_number=number,
                worker_id=uuid.UUID(record["worker_id"]), visit_type=record["visit_type"],
                announced=record["announced"], started_at=_utc(record["started_at"]),
                seen=bool(entry["seen"]), seen_alone=bool(entry["seen"] and entry["seen_alone"]),
                has_views=_has_views(entry, record["evidence"]), entry=entry,
            ))


def downgrade():
    op.drop_index('ix_visit_record_children_child_id_started_at', table_name='visit_record_children')
    op.drop_table('visit_record_children')
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_attachments_erased_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_attachments_withdrawn_by_id_users'), type_='foreignkey')
        for name in ('erased_reason', 'erased_by_id', 'erased_at', 'withdrawn_reason',
                     'withdrawn_by_id', 'withdrawn_at', 'first_version', 'stored_sha256'):
            batch_op.drop_column(name)
    with op.batch_alter_table('visit_versions', schema=None) as batch_op:
        batch_op.drop_column('sha256')
        batch_op.drop_column('format')
