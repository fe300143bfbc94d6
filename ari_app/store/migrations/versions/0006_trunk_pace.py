"""the trunk's new-call pacing, shared by every worker

Revision ID: 0006_trunk_pace
Revises: 0005_trunk_admission
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_trunk_pace"
down_revision: str | None = "0005_trunk_admission"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trunk_pace",
        sa.Column("trunk", sa.String(100), primary_key=True),
        sa.Column("last_slot", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("trunk_pace")
