"""The language the payer paid in (`payments.payer_locale`): the receipt email follows the page
the payment was made on, not the invoice client's record (a third-party payer on a Spanish
site gets a Spanish receipt). Null for payments made before: their client's record decides.

Revision ID: e5f8a2c4b917
Revises: e5b2c7a91f04
Create Date: 2026-12-02 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "e5f8a2c4b917"
down_revision = "e5b2c7a91f04"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payer_locale", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("payer_locale")
