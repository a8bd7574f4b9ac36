"""What a payer typed on the public pay page (`payments.payer_typed_minor`: shown back to a
stranger instead of the charged amount until the payment succeeds, so a declined probe never
tells an invoice's balance), and declined attempts counted per firm
(`failed_attempts.firm_id`, with an index for the hourly count).

Revision ID: c4d2e8f1a9b3
Revises: 7b1e4c9d2a60
Create Date: 2026-12-02 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c4d2e8f1a9b3"
down_revision = "7b1e4c9d2a60"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payer_typed_minor", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("failed_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("firm_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_failed_attempts_firm_id_firms"),
            "firms",
            ["firm_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index("ix_failed_attempts_firm_at", ["firm_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("failed_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_failed_attempts_firm_at")
        batch_op.drop_constraint(batch_op.f("fk_failed_attempts_firm_id_firms"), type_="foreignkey")
        batch_op.drop_column("firm_id")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("payer_typed_minor")
