"""Payments: charges per merchant account, allocations, the charge history, refunds, flags,
the processor event inbox and the sandbox processor's records; invoice reservations and
the trust ledger's link to portal charges.

Revision ID: 0d2aba7e7f1a
Revises: 2097ba35af0c
Create Date: 2026-11-22 10:56:19.649145
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "0d2aba7e7f1a"
down_revision = "2097ba35af0c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gateway", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("merchant_account_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=80), nullable=False),
        sa.Column("received_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_account_id"],
            ["merchant_accounts.id"],
            name=op.f("fk_inbound_events_merchant_account_id_merchant_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_events")),
        sa.UniqueConstraint("gateway", "event_id", name=op.f("uq_inbound_events_gateway_event_id")),
    )
    op.create_table(
        "sandbox_intents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("intent_id", sa.String(length=40), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("merchant_account_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("settles_to", sa.String(length=40), nullable=True),
        sa.Column("failure_code", sa.String(length=60), nullable=True),
        sa.Column("brand", sa.String(length=40), nullable=True),
        sa.Column("last4", sa.String(length=4), nullable=True),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_account_id"],
            ["merchant_accounts.id"],
            name=op.f("fk_sandbox_intents_merchant_account_id_merchant_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_intents")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_sandbox_intents_idempotency_key")),
        sa.UniqueConstraint("intent_id", name=op.f("uq_sandbox_intents_intent_id")),
    )
    with op.batch_alter_table("sandbox_intents", schema=None) as batch_op:
        batch_op.create_index("ix_sandbox_intents_status", ["status"], unique=False)

    op.create_table(
        "failed_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["links.id"],
            name=op.f("fk_failed_attempts_link_id_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failed_attempts")),
    )
    with op.batch_alter_table("failed_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_failed_attempts_ip_at", ["ip", "at"], unique=False)
        batch_op.create_index("ix_failed_attempts_link_at", ["link_id", "at"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column(
            "method",
            sa.Enum(
                "card",
                "ach",
                name="payment_method",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("payer_name", sa.String(length=200), nullable=False),
        sa.Column("payer_email", sa.String(length=254), nullable=True),
        sa.Column("mandate_accepted_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("mandate_ip", sa.String(length=64), nullable=True),
        sa.Column("mandate_user_agent", sa.String(length=400), nullable=True),
        sa.Column("mandate_text", sa.Text(), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_payments_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["firm_id"], ["firms.id"], name=op.f("fk_payments_firm_id_firms"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f("fk_payments_link_id_links"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint(
            "firm_id", "idempotency_key", name=op.f("uq_payments_firm_id_idempotency_key")
        ),
        sa.UniqueConstraint("public_id", name=op.f("uq_payments_public_id")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_client_id", ["client_id"], unique=False)
        batch_op.create_index("ix_payments_firm_created", ["firm_id", "created_at"], unique=False)

    op.create_table(
        "charges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("merchant_account_id", sa.Integer(), nullable=False),
        sa.Column(
            "account_kind",
            sa.Enum(
                "operating",
                "trust",
                name="charge_account_kind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "created",
                "processing",
                "succeeded",
                "failed",
                "canceled",
                "partially_refunded",
                "refunded",
                "returned",
                "disputed",
                name="charge_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("gateway", sa.String(length=20), nullable=False),
        sa.Column("gateway_ref", sa.String(length=100), nullable=True),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column(
            "method",
            sa.Enum(
                "card",
                "ach",
                name="charge_method",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("instrument_brand", sa.String(length=40), nullable=True),
        sa.Column("instrument_last4", sa.String(length=4), nullable=True),
        sa.Column("failure_code", sa.String(length=60), nullable=True),
        sa.Column("failure_message", sa.String(length=300), nullable=True),
        sa.Column("fee_minor", sa.BigInteger(), nullable=True),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("succeeded_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("settled_on", sa.Date(), nullable=True),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_charges_amount_positive")),
        sa.CheckConstraint(
            "fee_minor IS NULL OR fee_minor >= 0", name=op.f("ck_charges_fee_not_negative")
        ),
        sa.CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= amount_minor",
            name=op.f("ck_charges_refunded_within_amount"),
        ),
        sa.ForeignKeyConstraint(
            ["firm_id"], ["firms.id"], name=op.f("fk_charges_firm_id_firms"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["merchant_account_id"],
            ["merchant_accounts.id"],
            name=op.f("fk_charges_merchant_account_id_merchant_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_charges_payment_id_payments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charges")),
        sa.UniqueConstraint("gateway", "gateway_ref", name=op.f("uq_charges_gateway_gateway_ref")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_charges_idempotency_key")),
        sa.UniqueConstraint("public_id", name=op.f("uq_charges_public_id")),
    )
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.create_index("ix_charges_firm_status", ["firm_id", "status"], unique=False)
        batch_op.create_index("ix_charges_payment_id", ["payment_id"], unique=False)

    op.create_table(
        "allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("charge_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "invoice",
                "trust_deposit",
                name="allocation_kind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("matter_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("acknowledged_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(kind = 'invoice' AND invoice_id IS NOT NULL) OR (kind = 'trust_deposit' AND invoice_id IS NULL)",
            name=op.f("ck_allocations_target_matches_kind"),
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_allocations_amount_positive")),
        sa.CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= amount_minor",
            name=op.f("ck_allocations_refunded_within_amount"),
        ),
        sa.ForeignKeyConstraint(
            ["charge_id"],
            ["charges.id"],
            name=op.f("fk_allocations_charge_id_charges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["firm_id"], ["firms.id"], name=op.f("fk_allocations_firm_id_firms"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_allocations_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["matter_id"], ["matters.id"], name=op.f("fk_allocations_matter_id_matters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocations")),
    )
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.create_index("ix_allocations_charge_id", ["charge_id"], unique=False)
        batch_op.create_index("ix_allocations_invoice_id", ["invoice_id"], unique=False)
        batch_op.create_index("ix_allocations_matter_id", ["matter_id"], unique=False)

    op.create_table(
        "charge_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("charge_id", sa.Integer(), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "created",
                "processing",
                "succeeded",
                "failed",
                "canceled",
                "partially_refunded",
                "refunded",
                "returned",
                "disputed",
                name="charge_event_from",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "created",
                "processing",
                "succeeded",
                "failed",
                "canceled",
                "partially_refunded",
                "refunded",
                "returned",
                "disputed",
                name="charge_event_to",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("source_ref", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("recorded_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["charge_id"],
            ["charges.id"],
            name=op.f("fk_charge_events_charge_id_charges"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_events")),
    )
    with op.batch_alter_table("charge_events", schema=None) as batch_op:
        batch_op.create_index("ix_charge_events_charge_id", ["charge_id"], unique=False)

    op.create_table(
        "payment_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("charge_id", sa.Integer(), nullable=True),
        sa.Column("matter_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["charge_id"],
            ["charges.id"],
            name=op.f("fk_payment_flags_charge_id_charges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["firm_id"],
            ["firms.id"],
            name=op.f("fk_payment_flags_firm_id_firms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["matter_id"], ["matters.id"], name=op.f("fk_payment_flags_matter_id_matters")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_payment_flags_payment_id_payments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_flags")),
    )
    with op.batch_alter_table("payment_flags", schema=None) as batch_op:
        batch_op.create_index("ix_payment_flags_payment_id", ["payment_id"], unique=False)

    op.create_table(
        "refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("charge_id", sa.Integer(), nullable=False),
        sa.Column("allocation_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("gateway_ref", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["allocation_id"], ["allocations.id"], name=op.f("fk_refunds_allocation_id_allocations")
        ),
        sa.ForeignKeyConstraint(
            ["charge_id"],
            ["charges.id"],
            name=op.f("fk_refunds_charge_id_charges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["firm_id"], ["firms.id"], name=op.f("fk_refunds_firm_id_firms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint(
            "firm_id", "idempotency_key", name=op.f("uq_refunds_firm_id_idempotency_key")
        ),
        sa.UniqueConstraint("public_id", name=op.f("uq_refunds_public_id")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index("ix_refunds_charge_id", ["charge_id"], unique=False)

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reserved_minor", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("synced_balance_minor", sa.BigInteger(), nullable=True))

    with op.batch_alter_table("trust_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=20), server_default="back_office", nullable=False)
        )
        batch_op.add_column(sa.Column("charge_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("superseded_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_trust_entries_charge_id_charges"), "charges", ["charge_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_trust_entries_superseded_by_id_trust_entries"),
            "trust_entries",
            ["superseded_by_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("trust_entries", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_trust_entries_superseded_by_id_trust_entries"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_trust_entries_charge_id_charges"), type_="foreignkey"
        )
        batch_op.drop_column("superseded_by_id")
        batch_op.drop_column("charge_id")
        batch_op.drop_column("source")

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_column("synced_balance_minor")
        batch_op.drop_column("reserved_minor")

    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_refunds_charge_id")

    op.drop_table("refunds")
    with op.batch_alter_table("payment_flags", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_flags_payment_id")

    op.drop_table("payment_flags")
    with op.batch_alter_table("charge_events", schema=None) as batch_op:
        batch_op.drop_index("ix_charge_events_charge_id")

    op.drop_table("charge_events")
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.drop_index("ix_allocations_matter_id")
        batch_op.drop_index("ix_allocations_invoice_id")
        batch_op.drop_index("ix_allocations_charge_id")

    op.drop_table("allocations")
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.drop_index("ix_charges_payment_id")
        batch_op.drop_index("ix_charges_firm_status")

    op.drop_table("charges")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_firm_created")
        batch_op.drop_index("ix_payments_client_id")

    op.drop_table("payments")
    with op.batch_alter_table("failed_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_failed_attempts_link_at")
        batch_op.drop_index("ix_failed_attempts_ip_at")

    op.drop_table("failed_attempts")
    with op.batch_alter_table("sandbox_intents", schema=None) as batch_op:
        batch_op.drop_index("ix_sandbox_intents_status")

    op.drop_table("sandbox_intents")
    op.drop_table("inbound_events")
