"""Reviewed baskets (`reviewed_baskets`): the basket a client link's review page showed, kept
server-side so it can be confirmed within a short grace after the link expires and reopened by
the fresh link the expired page sends.

Revision ID: e5b2c7a91f04
Revises: e5c3b9a1f7d2
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "e5b2c7a91f04"
down_revision = "e5c3b9a1f7d2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reviewed_baskets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["firm_id"],
            ["firms.id"],
            name=op.f("fk_reviewed_baskets_firm_id_firms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["links.id"],
            name=op.f("fk_reviewed_baskets_link_id_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviewed_baskets")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_reviewed_baskets_idempotency_key")),
    )
    op.create_index("ix_reviewed_baskets_link_id", "reviewed_baskets", ["link_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_reviewed_baskets_link_id", table_name="reviewed_baskets")
    op.drop_table("reviewed_baskets")
