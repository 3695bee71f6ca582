"""the audit chain's claim in one round trip: take a free chain and read its head (PostgreSQL)

A volatile PL/pgSQL function takes a fresh snapshot for each statement it runs, so the head it
reads after taking the chain's advisory lock includes the commit of the lock's previous holder
(a single SQL statement could not: its snapshot would be older than the lock).

Revision ID: 0011_audit_claim
Revises: 0010_retention
Create Date: 2026-12-06 02:50:00

"""
from alembic import op


revision = '0011_audit_claim'
down_revision = '0010_retention'
branch_labels = None
depends_on = None

CLAIM = """
CREATE OR REPLACE FUNCTION audit_claim_chain(lock_class integer, chains integer[])
RETURNS TABLE (claimed integer, head_seq bigint, head_hash varchar)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    candidate integer;
    taken integer;
BEGIN
    FOREACH candidate IN ARRAY chains LOOP
        IF pg_try_advisory_xact_lock(lock_class, candidate) THEN
            taken := candidate;
            EXIT;
        END IF;
    END LOOP;
    IF taken IS NULL THEN  -- every chain busy: wait for the first, in the ordinary way
        taken := chains[1];
        PERFORM pg_advisory_xact_lock(lock_class, taken);
    END IF;
    RETURN QUERY
        SELECT taken, e.seq, e.hash FROM audit_events AS e
        WHERE e.chain = taken ORDER BY e.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        RETURN QUERY SELECT taken, 0::bigint, NULL::varchar;
    END IF;
END;
$$;
"""


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(CLAIM)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP FUNCTION IF EXISTS audit_claim_chain(integer, integer[])')
