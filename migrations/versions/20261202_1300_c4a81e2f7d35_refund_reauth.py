"""The firm's refund re-authentication threshold (`firms.refund_reauth_above_minor`): refunds of
more than this many minor units ask the console's staff user for their password again. Null
(every firm until it sets one) means never.

Revision ID: c4a81e2f7d35
Revises: befd8f469044
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c4a81e2f7d35"
down_revision = "befd8f469044"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("firms", sa.Column("refund_reauth_above_minor", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # Dropped in place (SQLite 3.35 and later can): a batch copy of `firms` would be renamed
    # under audit_events' trigger, which names the table, and SQLite refuses that rename.
    op.execute("ALTER TABLE firms DROP COLUMN refund_reauth_above_minor")
