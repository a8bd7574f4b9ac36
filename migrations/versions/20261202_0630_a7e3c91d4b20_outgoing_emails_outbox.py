"""The email outbox: outgoing_emails, one row per email, written in the transaction of what
it reports and sent by a worker with retries.

Revision ID: a7e3c91d4b20
Revises: 5c3e8a1f27b4
Create Date: 2026-12-02 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "a7e3c91d4b20"
down_revision = "5c3e8a1f27b4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outgoing_emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("ref", sa.String(length=100), nullable=True),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "sent",
                "failed",
                name="email_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claimed_until", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing_emails")),
    )
    with op.batch_alter_table("outgoing_emails", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outgoing_emails_status_next_attempt_at", ["status", "next_attempt_at"]
        )
        batch_op.create_index("ix_outgoing_emails_kind_ref", ["kind", "ref"])


def downgrade() -> None:
    with op.batch_alter_table("outgoing_emails", schema=None) as batch_op:
        batch_op.drop_index("ix_outgoing_emails_kind_ref")
        batch_op.drop_index("ix_outgoing_emails_status_next_attempt_at")
    op.drop_table("outgoing_emails")
