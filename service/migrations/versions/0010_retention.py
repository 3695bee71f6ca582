"""retention and legal hold: each case's retention class and disposal date, holds, purging

Backfills every existing case's class and disposal date with the rules of
service/retention/periods.py and the periods configured now (`flask retention recompute` gives
the same answer at any time).

Revision ID: 0010_retention
Revises: 0009_audit_chain
Create Date: 2026-12-06 02:20:00

"""
from collections import defaultdict
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa


revision = '0010_retention'
down_revision = '0009_audit_chain'
branch_labels = None
depends_on = None

CLASSES = "('looked_after', 'care_leaver', 'child_protection', 'child_in_need')"


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retention_class', sa.String(length=20), server_default='child_in_need', nullable=False))
        batch_op.add_column(sa.Column('disposal_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('legal_hold', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('purging_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_cases_disposal_date'), ['disposal_date'], unique=False)
        batch_op.create_check_constraint('retention_class', f'retention_class IN {CLASSES}')

    op.create_table('legal_holds',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('set_by_id', sa.Uuid(), nullable=False),
    sa.Column('set_reason', sa.String(length=500), nullable=False),
    sa.Column('cleared_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cleared_by_id', sa.Uuid(), nullable=True),
    sa.Column('cleared_reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_legal_holds_case_id_cases')),
    sa.ForeignKeyConstraint(['cleared_by_id'], ['users.id'], name=op.f('fk_legal_holds_cleared_by_id_users')),
    sa.ForeignKeyConstraint(['set_by_id'], ['users.id'], name=op.f('fk_legal_holds_set_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_legal_holds'))
    )
    with op.batch_alter_table('legal_holds', schema=None) as batch_op:
        batch_op.create_index('ix_legal_holds_case_id_set_at', ['case_id', 'set_at'], unique=False)

    _backfill()


def _settings():
    """The configured periods (the app's, when run by `flask db upgrade`), else the defaults."""
    from flask import current_app, has_app_context

    from service.retention.periods import RetentionPeriods

    if not has_app_context():
        return RetentionPeriods(), 'Europe/London'
    config = current_app.config
    periods = RetentionPeriods(
        looked_after_age=config.get('RETENTION_LOOKED_AFTER_AGE', 75),
        care_leaver_years=config.get('RETENTION_CARE_LEAVER_YEARS', 75),
        child_protection_years=config.get('RETENTION_CHILD_PROTECTION_YEARS', 35),
        child_in_need_age=config.get('RETENTION_CHILD_IN_NEED_AGE', 18),
        child_in_need_years=config.get('RETENTION_CHILD_IN_NEED_YEARS', 3),
    )
    return periods, config.get('LOCAL_TIMEZONE', 'Europe/London')


def _day(value, zone):
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        if len(value) == 10:
            return date.fromisoformat(value)
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZoneInfo(zone)).date()


def _backfill():
    from service.retention.periods import ChildOnCase, case_retention

    periods, zone = _settings()
    bind = op.get_bind()
    children = defaultdict(list)
    for case_id, plan_type, born in bind.execute(sa.text(
        'SELECT cc.case_id, c.plan_type, c.date_of_birth FROM case_children cc '
        'JOIN children c ON c.id = cc.child_id'
    )):
        children[str(case_id)].append(ChildOnCase(plan_type, _day(born, zone)))
    contacts = {
        str(case_id): _day(latest, zone)
        for case_id, latest in bind.execute(sa.text(
            'SELECT v.case_id, MAX(r.started_at) FROM visits v '
            'JOIN visit_record_children r ON r.visit_id = v.id GROUP BY v.case_id'
        ))
    }
    cases = sa.table(
        'cases', sa.column('id', sa.Uuid()), sa.column('retention_class', sa.String()),
        sa.column('disposal_date', sa.Date()),
    )
    for case_id, opened, closed in bind.execute(sa.text('SELECT id, opened_on, closed_on FROM cases')):
        key = str(case_id)
        known = [day for day in (contacts.get(key), _day(closed, zone)) if day is not None]
        last_contact = max(known) if known else _day(opened, zone)
        retention_class, disposal = case_retention(children[key], last_contact, periods)
        bind.execute(
            cases.update()
            .where(cases.c.id == (case_id if not isinstance(case_id, str) else _uuid(case_id)))
            .values(retention_class=retention_class, disposal_date=disposal)
        )


def _uuid(raw):
    import uuid

    return uuid.UUID(raw)


def downgrade():
    op.drop_table('legal_holds')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_cases_retention_class'), type_='check')
        batch_op.drop_index(batch_op.f('ix_cases_disposal_date'))
        batch_op.drop_column('purging_since')
        batch_op.drop_column('legal_hold')
        batch_op.drop_column('disposal_date')
        batch_op.drop_column('retention_class')
