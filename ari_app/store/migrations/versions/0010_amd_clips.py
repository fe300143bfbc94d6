"""AMD clips: the first seconds of the lead's audio kept with the attempt, for `callback amd tune`

Revision ID: 0010_amd_clips
Revises: 0009_amd_labels
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_amd_clips"
down_revision: str | None = "0009_amd_labels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("lead_clip", sa.String(200), nullable=True))
        batch.add_column(sa.Column("lead_clip_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("lead_clip_at")
        batch.drop_column("lead_clip")
