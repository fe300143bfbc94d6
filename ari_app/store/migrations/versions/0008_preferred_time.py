"""the time the lead chose for the call, and the zone it was shown in

Revision ID: 0008_preferred_time
Revises: 0007_installation
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_preferred_time"
down_revision: str | None = "0007_installation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("callback_requests", sa.Column("preferred_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("callback_requests", sa.Column("preferred_tz", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("callback_requests") as batch:
        batch.drop_column("preferred_tz")
        batch.drop_column("preferred_at")
