"""Where a payment was started (`payments.source`: link, pay_button or staff; existing pay-page
payments, those with a payer reference, become pay_button), when a person resolved a payment's
flag (`payment_flags.resolved_at`), and the scopes of an API key (`api_keys.scopes`, a JSON
list; null, as every existing key keeps, is every scope).

Revision ID: e5c3b9a1f7d2
Revises: 5b2b0325f371
Create Date: 2026-12-02 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "e5c3b9a1f7d2"
down_revision = "5b2b0325f371"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "source",
                sa.Enum(
                    "link",
                    "pay_button",
                    "staff",
                    name="payment_source",
                    native_enum=False,
                    create_constraint=True,
                    length=24,
                ),
                server_default="link",
                nullable=False,
            )
        )
        batch_op.create_index("ix_payments_firm_source", ["firm_id", "source"])
    op.execute(
        "UPDATE payments SET source = 'pay_button' "
        "WHERE payer_reference IS NOT NULL AND link_id IS NULL"
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.alter_column("source", server_default=None)
    with op.batch_alter_table("payment_flags", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("resolved_at", portal.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_payment_flags_firm_code", ["firm_id", "code"])
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scopes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("scopes")
    with op.batch_alter_table("payment_flags", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_flags_firm_code")
        batch_op.drop_column("resolved_at")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_firm_source")
        batch_op.drop_constraint(op.f("ck_payments_payment_source"), type_="check")
        batch_op.drop_column("source")
