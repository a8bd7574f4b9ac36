"""Trust requests and evergreen retainers: the trust_requests table (one unpaid evergreen
request per matter at most), allocations naming the request they pay, and the firm's
evergreen mode.

Revision ID: db9f25f979b4
Revises: 69ac987305f3
Create Date: 2026-11-22 13:31:25.615254
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "db9f25f979b4"
down_revision = "69ac987305f3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trust_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("matter_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "retainer",
                "replenishment",
                name="trust_request_kind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "partially_paid",
                "paid",
                "canceled",
                name="trust_request_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "source",
            sa.Enum(
                "api",
                "evergreen",
                name="trust_request_source",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("memo", sa.String(length=500), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("canceled_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("emailed_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_trust_requests_amount_positive")),
        sa.CheckConstraint("paid_minor >= 0", name=op.f("ck_trust_requests_paid_not_negative")),
        sa.ForeignKeyConstraint(
            ["firm_id"],
            ["firms.id"],
            name=op.f("fk_trust_requests_firm_id_firms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["matter_id"],
            ["matters.id"],
            name=op.f("fk_trust_requests_matter_id_matters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trust_requests")),
        sa.UniqueConstraint(
            "firm_id", "idempotency_key", name=op.f("uq_trust_requests_firm_id_idempotency_key")
        ),
        sa.UniqueConstraint("public_id", name=op.f("uq_trust_requests_public_id")),
    )
    with op.batch_alter_table("trust_requests", schema=None) as batch_op:
        batch_op.create_index("ix_trust_requests_firm_status", ["firm_id", "status"], unique=False)
        batch_op.create_index(
            "ix_trust_requests_matter_status", ["matter_id", "status"], unique=False
        )
        batch_op.create_index(
            "uq_trust_requests_open_evergreen",
            ["matter_id"],
            unique=True,
            sqlite_where=sa.text("source = 'evergreen' AND status IN ('open', 'partially_paid')"),
            postgresql_where=sa.text(
                "source = 'evergreen' AND status IN ('open', 'partially_paid')"
            ),
        )

    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trust_request_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_allocations_trust_request_id", ["trust_request_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_allocations_trust_request_id_trust_requests"),
            "trust_requests",
            ["trust_request_id"],
            ["id"],
        )
        batch_op.create_check_constraint(
            op.f("ck_allocations_request_only_on_trust"),
            "trust_request_id IS NULL OR kind = 'trust_deposit'",
        )

    with op.batch_alter_table("firms", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "evergreen_mode",
                sa.Enum(
                    "off",
                    "create",
                    "create_and_email",
                    name="evergreen_mode",
                    native_enum=False,
                    create_constraint=True,
                    length=24,
                ),
                server_default="off",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("firms", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_firms_evergreen_mode"), type_="check")
        batch_op.drop_column("evergreen_mode")

    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_allocations_request_only_on_trust"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_allocations_trust_request_id_trust_requests"), type_="foreignkey"
        )
        batch_op.drop_index("ix_allocations_trust_request_id")
        batch_op.drop_column("trust_request_id")

    with op.batch_alter_table("trust_requests", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_trust_requests_open_evergreen",
            sqlite_where=sa.text("source = 'evergreen' AND status IN ('open', 'partially_paid')"),
            postgresql_where=sa.text(
                "source = 'evergreen' AND status IN ('open', 'partially_paid')"
            ),
        )
        batch_op.drop_index("ix_trust_requests_matter_status")
        batch_op.drop_index("ix_trust_requests_firm_status")

    op.drop_table("trust_requests")
