"""Initial schema: firms and merchant accounts, API keys, clients, matters, invoices,
the trust ledger and client links.

Revision ID: 2097ba35af0c
Revises:
Create Date: 2026-11-22 10:47:33.868474
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "2097ba35af0c"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "firms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("brand_colour", sa.String(length=7), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firms")),
        sa.UniqueConstraint("slug", name=op.f("uq_firms_slug")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["firm_id"], ["firms.id"], name=op.f("fk_api_keys_firm_id_firms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index("ix_api_keys_firm_id", ["firm_id"], unique=False)

    op.create_table(
        "clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["firm_id"], ["firms.id"], name=op.f("fk_clients_firm_id_firms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
        sa.UniqueConstraint("firm_id", "external_id", name=op.f("uq_clients_firm_id_external_id")),
    )
    op.create_table(
        "merchant_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "operating",
                "trust",
                name="merchant_account_kind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("gateway", sa.String(length=20), nullable=False),
        sa.Column("ledger_code", sa.String(length=64), nullable=True),
        sa.Column("transaction_type", sa.String(length=64), nullable=True),
        sa.Column("bank_account_code", sa.String(length=64), nullable=True),
        sa.Column("accepts_card", sa.Boolean(), nullable=False),
        sa.Column("accepts_ach", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["firm_id"],
            ["firms.id"],
            name=op.f("fk_merchant_accounts_firm_id_firms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_accounts")),
        sa.UniqueConstraint(
            "firm_id", "kind", "currency", name=op.f("uq_merchant_accounts_firm_id_kind_currency")
        ),
    )
    op.create_table(
        "links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_opened_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_opened_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("open_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_links_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["firm_id"], ["firms.id"], name=op.f("fk_links_firm_id_firms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_links")),
        sa.UniqueConstraint("public_id", name=op.f("uq_links_public_id")),
    )
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.create_index("ix_links_firm_client", ["firm_id", "client_id"], unique=False)

    op.create_table(
        "matters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("trust_minimum_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "trust_minimum_minor >= 0", name=op.f("ck_matters_trust_minimum_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_matters_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["firm_id"], ["firms.id"], name=op.f("fk_matters_firm_id_firms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matters")),
        sa.UniqueConstraint("firm_id", "external_id", name=op.f("uq_matters_firm_id_external_id")),
    )
    with op.batch_alter_table("matters", schema=None) as batch_op:
        batch_op.create_index("ix_matters_client_id", ["client_id"], unique=False)

    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("matter_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("balance_due_minor", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "paid",
                "void",
                name="invoice_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("paid_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "balance_due_minor <= total_minor", name=op.f("ck_invoices_balance_due_within_total")
        ),
        sa.CheckConstraint(
            "balance_due_minor >= 0", name=op.f("ck_invoices_balance_due_not_negative")
        ),
        sa.CheckConstraint("total_minor >= 0", name=op.f("ck_invoices_total_not_negative")),
        sa.ForeignKeyConstraint(
            ["firm_id"], ["firms.id"], name=op.f("fk_invoices_firm_id_firms"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["matter_id"],
            ["matters.id"],
            name=op.f("fk_invoices_matter_id_matters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("firm_id", "external_id", name=op.f("uq_invoices_firm_id_external_id")),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_invoices_matter_status_due", ["matter_id", "status", "due_on"], unique=False
        )

    op.create_table(
        "link_matters",
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("matter_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["links.id"],
            name=op.f("fk_link_matters_link_id_links"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["matter_id"],
            ["matters.id"],
            name=op.f("fk_link_matters_matter_id_matters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("link_id", "matter_id", name=op.f("pk_link_matters")),
    )
    op.create_table(
        "trust_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("matter_id", sa.Integer(), nullable=False),
        sa.Column("posted_on", sa.Date(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor <> 0", name=op.f("ck_trust_entries_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["firm_id"],
            ["firms.id"],
            name=op.f("fk_trust_entries_firm_id_firms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["matter_id"],
            ["matters.id"],
            name=op.f("fk_trust_entries_matter_id_matters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trust_entries")),
        sa.UniqueConstraint(
            "firm_id", "external_id", name=op.f("uq_trust_entries_firm_id_external_id")
        ),
    )
    with op.batch_alter_table("trust_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_trust_entries_matter_posted", ["matter_id", "posted_on", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("trust_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_trust_entries_matter_posted")

    op.drop_table("trust_entries")
    op.drop_table("link_matters")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_invoices_matter_status_due")

    op.drop_table("invoices")
    with op.batch_alter_table("matters", schema=None) as batch_op:
        batch_op.drop_index("ix_matters_client_id")

    op.drop_table("matters")
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_index("ix_links_firm_client")

    op.drop_table("links")
    op.drop_table("merchant_accounts")
    op.drop_table("clients")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_api_keys_firm_id")

    op.drop_table("api_keys")
    op.drop_table("firms")
