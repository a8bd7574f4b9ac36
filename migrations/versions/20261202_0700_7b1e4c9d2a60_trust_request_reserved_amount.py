"""What payments in flight hold on each trust request (`trust_requests.reserved_minor`), kept by
the payments side through trust requests' own functions, so trust requests never read payments'
rows. Existing rows are filled from the allocations of charges still in flight.

Revision ID: 7b1e4c9d2a60
Revises: a7e3c91d4b20
Create Date: 2026-12-02 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "7b1e4c9d2a60"
down_revision = "a7e3c91d4b20"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trust_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reserved_minor", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.execute(
        """
        UPDATE trust_requests SET reserved_minor = COALESCE((
            SELECT SUM(allocations.amount_minor - allocations.refunded_minor)
            FROM allocations JOIN charges ON charges.id = allocations.charge_id
            WHERE allocations.trust_request_id = trust_requests.id
              AND charges.status IN ('created', 'processing')
        ), 0)
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("trust_requests", schema=None) as batch_op:
        batch_op.drop_column("reserved_minor")
