"""A/R note on links and payments: the firm's note for the A/R message of a payment's
postings, set on the link and copied to the payment when it starts.

Revision ID: 5c3e8a1f27b4
Revises: e53bba459365
Create Date: 2026-11-22 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5c3e8a1f27b4"
down_revision = "e53bba459365"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ar_note", sa.String(length=200), nullable=True))
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ar_note", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("ar_note")
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_column("ar_note")
