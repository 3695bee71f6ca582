"""each recorded child's visit made within timescale, or not: the dashboard adds it up in SQL

Adds ``visit_record_children.in_time`` (NULL where the visit does not count for timescales)
and fills it in for every child, a batch of children at a time, with the rule of
service/timescales/timeliness.py and the TIMESCALES configured now (`flask visits
recompute-derived` gives the same answer at any time, and must be run when TIMESCALES change).

Revision ID: 0013_visit_in_time
Revises: 0012_feedback_triage_notes
Create Date: 2026-12-07 10:00:00

"""
from collections import defaultdict

from alembic import op
import sqlalchemy as sa


revision = '0013_visit_in_time'
down_revision = '0012_feedback_triage_notes'
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade():
    with op.batch_alter_table('visit_record_children', schema=None) as batch_op:
        batch_op.add_column(sa.Column('in_time', sa.Boolean(), nullable=True))
    _backfill()
    op.create_index(
        'ix_visit_record_children_timed', 'visit_record_children',
        ['started_at', 'visit_id', 'in_time'], unique=False,
        postgresql_where=sa.text('in_time IS NOT NULL'),
        sqlite_where=sa.text('in_time IS NOT NULL'),
    )


def _settings():
    """The configured rules and zone (the app's, when run by `flask db upgrade`), else defaults."""
    from flask import current_app, has_app_context

    from service.timescales import rules_from_config

    if not has_app_context():
        return rules_from_config({}), 'Europe/London'
    config = current_app.config
    return (
        rules_from_config(config.get('TIMESCALES', {})),
        config.get('LOCAL_TIMEZONE', 'Europe/London'),
    )


def _backfill():
    from service.columns import UTCDateTime
    from service.timescales import local_date
    from service.timescales.timeliness import plans_by_date, visits_in_time

    rules, zone = _settings()
    bind = op.get_bind()
    children = sa.table(
        'children', sa.column('id', sa.Uuid()), sa.column('plan_type', sa.String()),
        sa.column('plan_start_date', sa.Date()),
    )
    events = sa.table(
        'child_plan_events', sa.column('id', sa.Integer()), sa.column('child_id', sa.Uuid()),
        sa.column('plan_type', sa.String()), sa.column('plan_start_date', sa.Date()),
        sa.column('recorded_at', UTCDateTime()),
    )
    record = sa.table(
        'visit_record_children', sa.column('visit_id', sa.Uuid()), sa.column('child_id', sa.Uuid()),
        sa.column('started_at', UTCDateTime()), sa.column('seen', sa.Boolean()),
        sa.column('visit_type', sa.String()), sa.column('in_time', sa.Boolean()),
    )
    write = (
        record.update()
        .where(record.c.visit_id == sa.bindparam('v'), record.c.child_id == sa.bindparam('c'))
        .values(in_time=sa.bindparam('flag'))
    )
    after = None
    while True:
        query = sa.select(children.c.id, children.c.plan_type, children.c.plan_start_date)
        if after is not None:
            query = query.where(children.c.id > after)
        batch = bind.execute(query.order_by(children.c.id).limit(BATCH)).all()
        if not batch:
            break
        after = batch[-1].id
        ids = [row.id for row in batch]
        recorded = defaultdict(list)
        for child_id, start, plan_type in bind.execute(
            sa.select(events.c.child_id, events.c.plan_start_date, events.c.plan_type)
            .where(events.c.child_id.in_(ids))
            .order_by(events.c.child_id, events.c.recorded_at, events.c.id)
        ):
            recorded[child_id].append((start, plan_type))
        counted = defaultdict(list)
        for child_id, visit_id, started_at in bind.execute(
            sa.select(record.c.child_id, record.c.visit_id, record.c.started_at)
            .where(
                record.c.child_id.in_(ids),
                record.c.seen.is_(True),
                record.c.visit_type == 'statutory',
            )
            .order_by(record.c.child_id, record.c.started_at, record.c.visit_id)
        ):
            counted[child_id].append((visit_id, started_at))
        flags = []
        for row in batch:
            visits = counted.get(row.id)
            if not visits:
                continue
            days = [local_date(started_at, zone) for _, started_at in visits]
            current = (row.plan_start_date, row.plan_type)
            answers = visits_in_time(days, plans_by_date(recorded[row.id]), current, rules)
            flags.extend(
                {'v': visit_id, 'c': row.id, 'flag': flag}
                for (visit_id, _), flag in zip(visits, answers, strict=True)
            )
        if flags:
            bind.execute(write, flags)


def downgrade():
    op.drop_index('ix_visit_record_children_timed', table_name='visit_record_children')
    with op.batch_alter_table('visit_record_children', schema=None) as batch_op:
        batch_op.drop_column('in_time')
