"""Send for payment: link deliveries (each email carrying a link, its state sent, failed,
opened or paid, and the dead link a fresh link replaces), and the firm's default link email
message and signature.

Revision ID: e53bba459365
Revises: db9f25f979b4
Create Date: 2026-11-22 13:31:53.148498
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "e53bba459365"
down_revision = "db9f25f979b4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("replaces_link_id", sa.Integer(), nullable=True),
        sa.Column(
            "origin",
            sa.Enum(
                "api",
                "fresh_link",
                name="delivery_origin",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "queued",
                "sent",
                "failed",
                "opened",
                "paid",
                name="delivery_state",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opened_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paid_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["firm_id"],
            ["firms.id"],
            name=op.f("fk_link_deliveries_firm_id_firms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["links.id"],
            name=op.f("fk_link_deliveries_link_id_links"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["replaces_link_id"],
            ["links.id"],
            name=op.f("fk_link_deliveries_replaces_link_id_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_deliveries")),
        sa.UniqueConstraint("public_id", name=op.f("uq_link_deliveries_public_id")),
    )
    with op.batch_alter_table("link_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_link_deliveries_link_id", ["link_id"], unique=False)
        batch_op.create_index(
            "ix_link_deliveries_replaces_created", ["replaces_link_id", "created_at"], unique=False
        )

    with op.batch_alter_table("firms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_message", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("email_signature", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("firms", schema=None) as batch_op:
        batch_op.drop_column("email_signature")
        batch_op.drop_column("email_message")

    with op.batch_alter_table("link_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_link_deliveries_replaces_created")
        batch_op.drop_index("ix_link_deliveries_link_id")

    op.drop_table("link_deliveries")
