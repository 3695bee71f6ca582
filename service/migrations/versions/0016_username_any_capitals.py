"""one account per username in any mix of capitals, kept by a unique index on lower(username)

``create_user`` refused ``alice`` beside ``Alice`` only by a check in Python, which two admins
creating them at the same instant both pass. The index makes the database refuse the second.

Accounts made before the rule, or by the council's identity provider, may already differ only
by capitals. Such data is never changed here: the upgrade stops and names them, and an operator
renames (or removes) all but one of each set before running it again (README "Command line").
The clash is looked for with the database's own ``lower()``, the function the index uses.

Revision ID: 0016_username_any_capitals
Revises: 0015_alerts
Create Date: 2026-12-07 04:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0016_username_any_capitals'
down_revision = '0015_alerts'
branch_labels = None
depends_on = None

INDEX = 'uq_users_username_lower'


class UsernamesClash(RuntimeError):
    """Accounts whose usernames differ only by capitals: the index cannot be made."""


def upgrade():
    clashes = _clashes()
    if clashes:
        sets = '; '.join(', '.join(repr(name) for name in names) for names in clashes)
        raise UsernamesClash(
            f'{INDEX}: cannot make usernames unique in any mix of capitals: these accounts '
            f'differ only by capitals: {sets}. Rename all but one of each set (nothing was '
            'changed), then run the upgrade again.'
        )
    op.create_index(INDEX, 'users', [sa.text('lower(username)')], unique=True)


def _clashes():
    """Each set of usernames the same in lower case (sorted here: collations differ)."""
    users = sa.table('users', sa.column('username', sa.String))
    others = users.alias('others')
    lowered, others_lowered = sa.func.lower(users.c.username), sa.func.lower(others.c.username)
    taken_twice = (
        sa.select(others_lowered).group_by(others_lowered).having(sa.func.count() > 1)
    )
    rows = op.get_bind().execute(sa.select(lowered, users.c.username).where(lowered.in_(taken_twice)))
    sets = {}
    for key, username in rows:
        sets.setdefault(key, []).append(username)
    return [sorted(names) for _, names in sorted(sets.items())]


def downgrade():
    op.drop_index(INDEX, table_name='users')
