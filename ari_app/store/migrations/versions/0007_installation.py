"""this installation's id, generated once: it keeps call ids apart from other installations on one PBX

Revision ID: 0007_installation
Revises: 0006_trunk_pace
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_installation"
down_revision: str | None = "0006_trunk_pace"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "installation",
        sa.Column("key", sa.Integer(), primary_key=True),  # always 1: one row
        sa.Column("installation_id", sa.String(16), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("installation")
