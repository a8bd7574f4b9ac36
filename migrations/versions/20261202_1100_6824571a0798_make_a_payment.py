"""Make a payment from the console: the firm's auto-apply order (`firms.auto_apply_order`), the
allocation a link carries (`link_lines`), the staff user who took a payment
(`payments.staff_user_id`), and each staff user's payment in progress (`staff_payment_drafts`). (Links emailed
from the console came in befd8f469044.)

Revision ID: 6824571a0798
Revises: c4a81e2f7d35
Create Date: 2026-12-02 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "6824571a0798"
down_revision = "c4a81e2f7d35"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_payment_drafts",
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("criteria_saved", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("selected", sa.JSON(), nullable=False),
        sa.Column("updated_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["firm_id"],
            ["firms.id"],
            name=op.f("fk_staff_payment_drafts_firm_id_firms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_payment_drafts_staff_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("staff_user_id", name=op.f("pk_staff_payment_drafts")),
    )
    op.create_table(
        "link_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("matter_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_link_lines_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f("fk_link_lines_link_id_links"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["matter_id"],
            ["matters.id"],
            name=op.f("fk_link_lines_matter_id_matters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_lines")),
    )
    op.create_index("ix_link_lines_link_id", "link_lines", ["link_id"])
    with op.batch_alter_table("firms", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "auto_apply_order",
                sa.Enum(
                    "oldest_due",
                    "oldest_issued",
                    "smallest_first",
                    name="autoapplyorder",
                    native_enum=False,
                    create_constraint=False,
                    length=24,
                ),
                server_default="oldest_due",
                nullable=False,
            )
        )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("staff_user_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_payments_staff_user_id_staff_users"),
            "staff_users",
            ["staff_user_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_payments_staff_user_id_staff_users"), type_="foreignkey"
        )
        batch_op.drop_column("staff_user_id")
    # Not in batch mode: SQLite drops the column in place (a rebuilt `firms` would break the
    # audit log's triggers that name it).
    op.drop_column("firms", "auto_apply_order")
    op.drop_index("ix_link_lines_link_id", table_name="link_lines")
    op.drop_table("link_lines")
    op.drop_table("staff_payment_drafts")
