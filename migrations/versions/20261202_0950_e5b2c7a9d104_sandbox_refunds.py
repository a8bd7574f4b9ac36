"""The sandbox processor's refunds (`sandbox_refunds`), so a refund retried under its
idempotency key is answered with the first refund rather than made twice.

Revision ID: e5b2c7a9d104
Revises: d1a7f3e5b820
Create Date: 2026-12-02 09:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "e5b2c7a9d104"
down_revision = "d1a7f3e5b820"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sandbox_refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("refund_id", sa.String(length=40), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("intent_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["sandbox_intents.id"],
            name=op.f("fk_sandbox_refunds_intent_id_sandbox_intents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_refunds")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_sandbox_refunds_idempotency_key")),
        sa.UniqueConstraint("refund_id", name=op.f("uq_sandbox_refunds_refund_id")),
    )


def downgrade() -> None:
    op.drop_table("sandbox_refunds")
