"""The back office's lists (bank accounts, ledger codes, transaction types) that a merchant
account's posting defaults are checked against once synced.

Revision ID: f6c3d9e5a2b7
Revises: e5b2c8d4f1a6
Create Date: 2026-12-02 10:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "f6c3d9e5a2b7"
down_revision = "e5b2c8d4f1a6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "back_office_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.Column("updated_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["firm_id"],
            ["firms.id"],
            name=op.f("fk_back_office_lists_firm_id_firms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_back_office_lists")),
        sa.UniqueConstraint("firm_id", "name", name=op.f("uq_back_office_lists_firm_id_name")),
    )


def downgrade() -> None:
    op.drop_table("back_office_lists")
