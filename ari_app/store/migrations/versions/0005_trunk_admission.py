"""the trunk's concurrent-call limit checked at commit, inside PostgreSQL

Revision ID: 0005_trunk_admission
Revises: 0004_admin_sessions
Create Date: 2026-11-26

A deferred constraint trigger on attempts entering "running": at COMMIT it takes a transaction-scoped
advisory lock, counts running attempts (its own included) and refuses the commit when they exceed the
limit the starting transaction set with ``set_config('callback.max_concurrent', …, true)``. The lock is held
only from the trigger to the end of the commit, all inside the server: no worker waits on another worker's
round trips (the lock taken first, in the client, was a convoy: ``bench/scale_out.py``). Transactions that
don't set the limit (re-adopting a live call after a takeover) are never refused. SQLite has one worker,
which checks the limit itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005_trunk_admission"
down_revision: str | None = "0004_admin_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Same key as before ("callback"), so a worker of the previous release and one of this release, running
# side by side during an upgrade, still serialise their starts against each other.
_FUNCTION = """
CREATE OR REPLACE FUNCTION callback_trunk_admission() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    lim integer := nullif(current_setting('callback.max_concurrent', true), '')::integer;
BEGIN
    IF lim IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(7161124095258616683);
    -- A new statement, so a new snapshot: it sees every start committed by the lock's previous holder.
    IF (SELECT count(*) FROM attempts WHERE status = 'running') > lim THEN
        RAISE EXCEPTION 'callback_trunk_full: more than % calls running', lim
            USING ERRCODE = 'check_violation', CONSTRAINT = 'callback_trunk_full';
    END IF;
    RETURN NULL;
END
$$
"""

_TRIGGER = """
CREATE CONSTRAINT TRIGGER attempts_trunk_admission
AFTER UPDATE OF status ON attempts
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW
WHEN (NEW.status = 'running' AND OLD.status IS DISTINCT FROM 'running')
EXECUTE FUNCTION callback_trunk_admission()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    op.execute(_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS attempts_trunk_admission ON attempts")
    op.execute("DROP FUNCTION IF EXISTS callback_trunk_admission()")
