"""one running attempt per admin, enforced by the database

Revision ID: 0003_admin_one_call
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_admin_one_call"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BUSY = "status = 'running'"


def upgrade() -> None:
    op.create_index(
        "uq_attempts_admin_one_call",
        "attempts",
        ["admin_name"],
        unique=True,
        sqlite_where=sa.text(_BUSY),
        postgresql_where=sa.text(_BUSY),
    )


def downgrade() -> None:
    op.drop_index("uq_attempts_admin_one_call", table_name="attempts")
