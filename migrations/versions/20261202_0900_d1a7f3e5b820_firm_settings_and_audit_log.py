"""The firm's settings that had no column (time zone, contact details), per-language account
labels and the Stripe connected account of a merchant account, and the append-only audit log
(`audit_events`, guarded by triggers that refuse UPDATE, and DELETE while the firm exists).

Revision ID: d1a7f3e5b820
Revises: c4d2e8f1a9b3
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "d1a7f3e5b820"
down_revision = "c4d2e8f1a9b3"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    -- A firm's erasure takes its log with it (ON DELETE CASCADE); nothing else deletes.
    IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM firms WHERE id = OLD.firm_id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are never changed or deleted';
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    with op.batch_alter_table("firms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("contact_email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("contact_phone", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("postal_address", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("website", sa.String(length=300), nullable=True))
    with op.batch_alter_table("merchant_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("labels", sa.JSON(), server_default="{}", nullable=False))
        batch_op.add_column(sa.Column("stripe_account", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["firm_id"],
            ["firms.id"],
            name=op.f("fk_audit_events_firm_id_firms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_firm_id_id", "audit_events", ["firm_id", "id"])
    op.create_index(
        "ix_audit_events_firm_entity", "audit_events", ["firm_id", "entity", "entity_id"]
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit events are never changed or deleted'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
            "WHEN EXISTS (SELECT 1 FROM firms WHERE id = OLD.firm_id) "
            "BEGIN SELECT RAISE(ABORT, 'audit events are never changed or deleted'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    op.drop_index("ix_audit_events_firm_entity", table_name="audit_events")
    op.drop_index("ix_audit_events_firm_id_id", table_name="audit_events")
    op.drop_table("audit_events")
    with op.batch_alter_table("merchant_accounts", schema=None) as batch_op:
        batch_op.drop_column("stripe_account")
        batch_op.drop_column("labels")
    with op.batch_alter_table("firms", schema=None) as batch_op:
        batch_op.drop_column("website")
        batch_op.drop_column("postal_address")
        batch_op.drop_column("contact_phone")
        batch_op.drop_column("contact_email")
        batch_op.drop_column("time_zone")
