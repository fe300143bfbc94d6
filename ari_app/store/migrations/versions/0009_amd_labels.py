"""AMD you can trust: what AMD said and when on the lead's leg, and the admin's label on the attempt

Revision ID: 0009_amd_labels
Revises: 0008_preferred_time
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_amd_labels"
down_revision: str | None = "0008_preferred_time"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("legs") as batch:
        batch.add_column(sa.Column("amd_params", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("amd_seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("greeting_end_seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("drop_early", sa.Boolean(), nullable=True))
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("lead_label", sa.String(10), nullable=True))
        batch.add_column(sa.Column("lead_label_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("lead_label_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("lead_label_at")
        batch.drop_column("lead_label_by")
        batch.drop_column("lead_label")
    with op.batch_alter_table("legs") as batch:
        batch.drop_column("drop_early")
        batch.drop_column("greeting_end_seconds")
        batch.drop_column("amd_seconds")
        batch.drop_column("amd_params")
